//go:build !race

package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
)

// TestSignalSinkAllocations: with a signal sink configured, an allowed login still allocates nothing and
// signals nothing, and a signal-worthy decision (a valid login in a credential-stuffing wave, denied) allocates
// nothing either: the signal's strings are the event's, and the sink copies what it keeps.
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

	t0 := time.Now().Add(-time.Hour)
	for i := range 50 {
		ev := login(fmt.Sprintf("victim-%d", i), "198.51.100.7", "", t0.Add(time.Duration(i)*time.Second))
		ev.CredentialsValid = false
		if err := e.Decide(ev, &d); err != nil {
			t.Fatal(err)
		}
	}
	sink.n = 0
	if n := decideAllocs(t, e, login("victim-50", "198.51.100.7", "", t0.Add(55*time.Second)), &d); n != 0 {
		t.Fatalf("a signal-worthy decision allocates %.1f times per call, want 0", n)
	}
	if d.Action.String() != "deny" || sink.n < 1000 || sink.last.UserID != "victim-50" {
		t.Fatalf("decision %v, %d signals (last for %q): want deny, each a signal", d.Action, sink.n, sink.last.UserID)
	}
}

type countingSink struct {
	n    int
	last engine.Signal
}

func (s *countingSink) Signal(sig engine.Signal) { s.n++; s.last = sig }
