//go:build !race

package engine_test

import (
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
)

// TestSignalSinkAllocations: with a signal sink configured, an allowed login still allocates nothing and
// signals nothing; only a signal-worthy decision pays for copying the user id.
func TestSignalSinkAllocations(t *testing.T) {
	sink := &countingSink{}
	e := enginetest.New(t, metrics.NewSet(), func(c *engine.Config) { c.Signals = sink })
	tmpl := login("lee", "216.160.83.56", "lee-laptop", time.Now().Add(-time.Hour))
	var d engine.Decision
	decideAllocs(t, e, tmpl, &d) // the first decisions learn the device, which may signal
	sink.n = 0
	if n := decideAllocs(t, e, tmpl, &d); n != 0 {
		t.Fatalf("an allowed login with a signal sink allocates %.1f times per call, want 0", n)
	}
	if d.Action.String() != "allow" || sink.n != 0 {
		t.Fatalf("decision %v, %d signals: want allow and none", d.Action, sink.n)
	}
}

type countingSink struct {
	n    int
	last engine.Signal
}

func (s *countingSink) Signal(sig engine.Signal) { s.n++; s.last = sig }
