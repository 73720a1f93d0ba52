package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// userAgent is one browser user agent, kept as the JSON string literal (quotes and escapes included) that goes
// into request bodies, so nothing is escaped per request.
type userAgent struct {
	json   []byte
	mobile bool // the device category is a phone or tablet: the event's channel is "mobile", else "web"
}

// uaTable picks user agents with their traffic weights.
type uaTable struct {
	agents []userAgent
	cum    []float64 // cumulative weights, for a binary search
	source string    // where the table came from, for the report
}

// sharedUserAgents is where the shared folder beside the repository keeps real browser user agents with their
// weights (see ../shared/README.md).
func sharedUserAgents(root string) string {
	return filepath.Join(root, "..", "shared", "ua", "real-user-agents.tsv")
}

// loadUserAgents reads a weight<TAB>device_category<TAB>platform<TAB>language<TAB>user_agent file with a header
// line, the format of real-user-agents.tsv.
func loadUserAgents(path string) (*uaTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := parseUserAgents(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.source = path
	return t, nil
}

func parseUserAgents(r io.Reader) (*uaTable, error) {
	t := &uaTable{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	var total float64
	for sc.Scan() {
		line++
		cols := strings.Split(sc.Text(), "\t")
		if line == 1 && len(cols) > 0 && cols[0] == "weight" {
			continue
		}
		if len(cols) < 5 {
			return nil, fmt.Errorf("line %d: want 5 tab-separated columns, got %d", line, len(cols))
		}
		w, err := strconv.ParseFloat(cols[0], 64)
		if err != nil || w < 0 {
			return nil, fmt.Errorf("line %d: weight %q is not a non-negative number", line, cols[0])
		}
		ua := cols[4]
		if ua == "" || len(ua) > 1024 || w == 0 {
			continue // riskd refuses user agents over 1 KiB; a weight of 0 is never picked
		}
		total += w
		t.add(ua, cols[1] == "mobile" || cols[1] == "tablet", total)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t.agents) == 0 {
		return nil, fmt.Errorf("no user agents")
	}
	return t, nil
}

func (t *uaTable) add(ua string, mobile bool, cum float64) {
	lit, _ := json.Marshal(ua) // a string always marshals
	t.agents = append(t.agents, userAgent{json: lit, mobile: mobile})
	t.cum = append(t.cum, cum)
}

// builtinUserAgents is the fallback when the shared file is absent: a few current browsers with rough shares.
func builtinUserAgents() *uaTable {
	t := &uaTable{source: "built-in (6 user agents)"}
	var total float64
	for _, a := range []struct {
		w      float64
		mobile bool
		ua     string
	}{
		{0.30, true, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1"},
		{0.25, false, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"},
		{0.20, true, "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Mobile Safari/537.36"},
		{0.10, false, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Safari/605.1.15"},
		{0.10, false, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0"},
		{0.05, false, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:143.0) Gecko/20100101 Firefox/143.0"},
	} {
		total += a.w
		t.add(a.ua, a.mobile, total)
	}
	return t
}

// pick returns the user agent that u, a uniformly distributed 64-bit value, falls on by weight. Users keep
// their browser because u is derived from the user and device.
func (t *uaTable) pick(u uint64) *userAgent {
	x := float64(u>>11) / (1 << 53) * t.cum[len(t.cum)-1]
	i := sort.SearchFloat64s(t.cum, x)
	if i < len(t.cum) && t.cum[i] == x {
		i++ // SearchFloat64s finds the first cum >= x; x equal to a bound belongs to the next agent
	}
	return &t.agents[min(i, len(t.agents)-1)]
}
