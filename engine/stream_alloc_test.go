//go:build !race

package engine_test

import (
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/livestream"
)

// TestDecideAllocationsWithViewer: with a viewer of the live stream connected, a decision still allocates
// nothing: it copies into the stream's ring and returns. The viewer never reads, so once its queue is full the
// fan-out drops without rendering, and nothing else in the process allocates while the decisions are counted;
// its drop count proves the decisions did reach the stream.
func TestDecideAllocationsWithViewer(t *testing.T) {
	l := openLog(t)
	e := enginetest.New(t, metrics.NewSet(), func(c *engine.Config) {
		c.Log = l
		c.Stream = livestream.Config{QueueLen: 4, MaxRate: 1 << 30, Tick: time.Millisecond}
	})
	v, err := e.Stream().Subscribe(livestream.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stream().Unsubscribe(v)
	tmpl := login("lee", "216.160.83.56", "lee-laptop", time.Now().Add(-time.Hour))
	var d engine.Decision
	decide := func() {
		ev := *tmpl
		if err := e.Decide(&ev, &d); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		decide()
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.Stream().Dropped() == 0 { // the queue is full: the fan-out renders no more
		if time.Now().After(deadline) {
			t.Fatal("the viewer's queue never filled")
		}
		decide()
		time.Sleep(time.Millisecond)
	}
	before := e.Stream().Dropped()
	if n := testing.AllocsPerRun(1000, decide); n != 0 {
		t.Fatalf("Decide with a viewer connected allocates %.1f times per call, want 0", n)
	}
	waitUntil(t, func() bool { return e.Stream().Dropped() >= before+1000 })
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
