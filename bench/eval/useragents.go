package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/riskd/riskd/bench/internal/uafile"
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

// loadUserAgents reads the shared folder's real-user-agents.tsv (see package uafile), keeping the maxUserAgents
// heaviest. A missing file gives the built-in table, and so does an empty path; a malformed file is an error.
func loadUserAgents(path string) (*uaTable, error) {
	if path == "" {
		return builtinUserAgents(), nil
	}
	agents, err := uafile.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return builtinUserAgents(), nil
	}
	if err != nil {
		return nil, err
	}
	t, err := heaviest(agents)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.source = fmt.Sprintf("%s (%d heaviest)", path, len(t.desktop.agents)+len(t.mobile.agents))
	return t, nil
}

// heaviest keeps the maxUserAgents heaviest agents, phones and tablets apart from computers.
func heaviest(agents []uafile.Agent) (*uaTable, error) {
	agents = slices.Clone(agents)
	slices.SortStableFunc(agents, func(a, b uafile.Agent) int { return cmp.Compare(b.Weight, a.Weight) })
	t := &uaTable{}
	for _, a := range agents[:min(len(agents), maxUserAgents)] {
		if a.Mobile {
			t.mobile.add(a.UA, a.Weight)
		} else {
			t.desktop.add(a.UA, a.Weight)
		}
	}
	if len(t.mobile.agents) == 0 || len(t.desktop.agents) == 0 {
		return nil, fmt.Errorf("want both mobile and desktop user agents among the %d heaviest", maxUserAgents)
	}
	return t, nil
}

// builtinUserAgents is the fallback when the shared file is absent.
func builtinUserAgents() *uaTable {
	t, _ := heaviest(uafile.Builtin()) // it has both phones and computers
	t.source = fmt.Sprintf("built-in (%d user agents)", len(t.mobile.agents)+len(t.desktop.agents))
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
