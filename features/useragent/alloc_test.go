//go:build !race

// The race detector allocates on its own, so allocation counts are only meaningful without it.

package useragent

import "testing"

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
