//go:build !race

package engine_test

import (
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
)

// TestDecideAllocations guards the in-process decision: a returning user's login, with the default rules and
// real geo databases, allocates nothing.
func TestDecideAllocations(t *testing.T) {
	e := newEngine(t)
	base := time.Now().Add(-time.Hour)
	var d engine.Decision
	tmpl := login("lee", "216.160.83.56", "lee-laptop", base)
	ev := *tmpl
	decide := func() {
		ev = *tmpl
		if err := e.Decide(&ev, &d); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		decide()
	}
	if n := testing.AllocsPerRun(1000, decide); n != 0 {
		t.Fatalf("Decide allocates %.1f times per call, want 0", n)
	}
}
