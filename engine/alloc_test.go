//go:build !race

package engine_test

import (
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
)

// TestDecideAllocations guards the in-process decision: a returning user's login, with the default rules,
// real geo databases, metrics and the decision log on, allocates nothing.
func TestDecideAllocations(t *testing.T) {
	l, err := decisionlog.Open(decisionlog.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e := enginetest.New(t, metrics.NewSet(), func(c *engine.Config) { c.Log = l })
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
