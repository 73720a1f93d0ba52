package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/testenv"
)

const sampleTSV = "weight\tdevice_category\tplatform\tlanguage\tuser_agent\n" +
	"0.75\tdesktop\tWin32\ten-US\tMozilla/5.0 (Windows NT 10.0) \"quoted\" \\ back\n" +
	"0.25\tmobile\tiPhone\ten-GB\tMozilla/5.0 (iPhone)\n" +
	"0\ttablet\tiPad\ten-GB\tnever picked\n"

func TestParseUserAgents(t *testing.T) {
	tab, err := parseUserAgents(strings.NewReader(sampleTSV))
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.agents) != 2 {
		t.Fatalf("%d agents, want 2 (a zero weight is dropped)", len(tab.agents))
	}
	var s string
	if err := json.Unmarshal(tab.agents[0].json, &s); err != nil || !strings.Contains(s, `"quoted" \ back`) {
		t.Fatalf("user agent kept as %s (%v), want a JSON string of the original", tab.agents[0].json, err)
	}
	if tab.agents[0].mobile || !tab.agents[1].mobile {
		t.Error("device categories: want desktop then mobile")
	}
	// Picks follow the weights: 3 to 1.
	counts := map[bool]int{}
	for i := range uint64(100_000) {
		counts[tab.pick(mix64(i)).mobile]++
	}
	if r := float64(counts[false]) / float64(counts[true]); r < 2.8 || r > 3.2 {
		t.Errorf("desktop:mobile picked %d:%d, want 3:1", counts[false], counts[true])
	}
	if _, err := parseUserAgents(strings.NewReader("weight\tx\n1\tonly two columns\n")); err == nil {
		t.Error("a short line was accepted")
	}
	if _, err := parseUserAgents(strings.NewReader("weight\tdevice_category\tplatform\tlanguage\tuser_agent\n")); err == nil {
		t.Error("an empty table was accepted")
	}
}

func TestSharedUserAgents(t *testing.T) {
	path := testenv.Shared(t, "ua/real-user-agents.tsv")
	tab, err := loadUserAgents(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.agents) < 1000 {
		t.Fatalf("%d user agents in %s, want thousands", len(tab.agents), path)
	}
	mobile := 0
	for i := range uint64(10_000) {
		if tab.pick(mix64(i)).mobile {
			mobile++
		}
	}
	if mobile < 1000 || mobile > 9000 {
		t.Errorf("%d of 10,000 weighted picks are mobile: the weights or categories were misread", mobile)
	}
}
