package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// maxUserAgents bounds the browsers taken from the real list, most used first: riskd parses each distinct user
// agent once (0.3-2.5 ms of regexes), and a few hundred already cover nearly all of the traffic weight.
const maxUserAgents = 300

// uaTable holds browser user agents with their traffic weights, phones and tablets apart from computers, so a
// phone gets a phone's browser.
type uaTable struct {
	desktop, mobile weighted
	source          string
}

type weighted struct {
	agents []string
	cum    []float64
}

func (t *weighted) add(ua string, w float64) {
	total := w
	if n := len(t.cum); n > 0 {
		total += t.cum[n-1]
	}
	t.agents = append(t.agents, ua)
	t.cum = append(t.cum, total)
}

func (t *weighted) pick(r *rand.Rand) string {
	x := r.Float64() * t.cum[len(t.cum)-1]
	return t.agents[min(sort.SearchFloat64s(t.cum, x), len(t.agents)-1)]
}

// loadUserAgents reads the weight<TAB>device_category<TAB>platform<TAB>language<TAB>user_agent file of the shared
// folder (../shared/ua/real-user-agents.tsv), keeping the maxUserAgents heaviest. A missing file gives the
// built-in table, and so does an empty path; a malformed file is an error.
func loadUserAgents(path string) (*uaTable, error) {
	if path == "" {
		return builtinUserAgents(), nil
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return builtinUserAgents(), nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := parseUserAgents(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.source = fmt.Sprintf("%s (%d heaviest)", path, len(t.desktop.agents)+len(t.mobile.agents))
	return t, nil
}

func parseUserAgents(r io.Reader) (*uaTable, error) {
	type row struct {
		w      float64
		mobile bool
		ua     string
	}
	var rows []row
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		cols := strings.Split(sc.Text(), "\t")
		if line == 1 && cols[0] == "weight" {
			continue
		}
		if len(cols) < 5 {
			return nil, fmt.Errorf("line %d: want 5 tab-separated columns, got %d", line, len(cols))
		}
		w, err := strconv.ParseFloat(cols[0], 64)
		if err != nil || w < 0 {
			return nil, fmt.Errorf("line %d: weight %q is not a non-negative number", line, cols[0])
		}
		if ua := cols[4]; ua != "" && len(ua) <= 1024 && w > 0 { // riskd refuses user agents over 1 KiB
			rows = append(rows, row{w, cols[1] == "mobile" || cols[1] == "tablet", ua})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(rows, func(a, b row) int { return -cmpFloat(a.w, b.w) })
	t := &uaTable{}
	for _, r := range rows[:min(len(rows), maxUserAgents)] {
		if r.mobile {
			t.mobile.add(r.ua, r.w)
		} else {
			t.desktop.add(r.ua, r.w)
		}
	}
	if len(t.mobile.agents) == 0 || len(t.desktop.agents) == 0 {
		return nil, fmt.Errorf("want both mobile and desktop user agents among the %d heaviest", maxUserAgents)
	}
	return t, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// builtinUserAgents is the fallback when the shared file is absent: a few current browsers with rough shares.
func builtinUserAgents() *uaTable {
	t := &uaTable{source: "built-in (6 user agents)"}
	t.mobile.add("Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1", 0.30)
	t.mobile.add("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Mobile Safari/537.36", 0.20)
	t.desktop.add("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36", 0.25)
	t.desktop.add("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Safari/605.1.15", 0.10)
	t.desktop.add("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0", 0.10)
	t.desktop.add("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:143.0) Gecko/20100101 Firefox/143.0", 0.05)
	return t
}

// botUserAgents are what stuffing tools send when they do not bother to look like a browser.
var botUserAgents = []string{
	"python-requests/2.32.3",
	"curl/8.5.0",
	"Go-http-client/1.1",
	"okhttp/4.12.0",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.6367.60 Safari/537.36",
}

// torBrowser is the user agent every Tor Browser sends, whatever the machine.
const torBrowser = "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0"
