package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/riskd/riskd/bench/internal/uafile"
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
func sharedUserAgents(root string) string { return uafile.Shared(root) }

// loadUserAgents reads a real-user-agents.tsv file (see package uafile).
func loadUserAgents(path string) (*uaTable, error) {
	agents, err := uafile.Load(path)
	if err != nil {
		return nil, err
	}
	t := newUATable(agents)
	t.source = path
	return t, nil
}

// parseUserAgents reads the format from r.
func parseUserAgents(r io.Reader) (*uaTable, error) {
	agents, err := uafile.Read(r)
	if err != nil {
		return nil, err
	}
	return newUATable(agents), nil
}

func newUATable(agents []uafile.Agent) *uaTable {
	t := &uaTable{}
	var total float64
	for _, a := range agents {
		total += a.Weight
		lit, _ := json.Marshal(a.UA) // a string always marshals
		t.agents = append(t.agents, userAgent{json: lit, mobile: a.Mobile})
		t.cum = append(t.cum, total)
	}
	return t
}

// builtinUserAgents is the fallback when the shared file is absent.
func builtinUserAgents() *uaTable {
	t := newUATable(uafile.Builtin())
	t.source = fmt.Sprintf("built-in (%d user agents)", len(t.agents))
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
