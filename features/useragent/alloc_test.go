//go:build !race

// The race detector allocates on its own, so allocation counts are only meaningful without it.

package useragent

import (
	"strconv"
	"testing"
)

// TestLookupCacheHitAllocatesNothing guards the request path: a cached user agent must not allocate.
func TestLookupCacheHitAllocatesNothing(t *testing.T) {
	p := New(0)
	p.uap = parser().uap
	p.once.Do(func() {})
	uas := []string{botAgents[0], humanAgents[0].ua, humanAgents[3].ua, ""}
	for _, ua := range uas {
		p.Lookup(ua)
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		sinkInfo = p.Lookup(uas[i%len(uas)])
		i++
	}); n != 0 {
		t.Errorf("cached Lookup: %v allocs/op, want 0", n)
	}
}

// TestFirstSightAllocatesNothing: a user agent seen for the first time by a background parser is answered from
// the first-sight check without allocating, so a flood of one-off user agents costs no garbage.
func TestFirstSightAllocatesNothing(t *testing.T) {
	p := NewBackground(0, 1)
	uas := make([]string, 2000)
	for i := range uas {
		uas[i] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0." + strconv.Itoa(i) + " Safari/537.36"
		if i%2 == 1 {
			uas[i] = "python-requests/2.31." + strconv.Itoa(i)
		}
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		sinkInfo = p.Lookup(uas[i])
		i++
	}); n != 0 {
		t.Errorf("first sight: %v allocs/op, want 0", n)
	}
	if !p.Lookup(uas[1]).IsBot || p.Lookup(uas[2]).IsBot {
		t.Error("first-sight answers wrong")
	}
}
