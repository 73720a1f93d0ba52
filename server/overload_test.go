package server

import (
	"runtime/metrics"
	"testing"
	"time"
)

func TestOverloadGuardController(t *testing.T) {
	g := newOverloadGuard(2 * time.Millisecond)
	for range 20 {
		g.adjust(true)
	}
	if g.share.Load() != shedMax {
		t.Fatalf("share after a long overload: %v, want the maximum", g.Share())
	}
	shed := 0
	for range 10000 {
		if g.shed() {
			shed++
		}
	}
	if shed < 9200 || shed > 9800 {
		t.Fatalf("shed %d of 10000 at a 95 %% share", shed)
	}
	for range 25 {
		g.adjust(false)
	}
	if g.share.Load() != 0 || g.shed() {
		t.Fatalf("share after calm: %v", g.Share())
	}
	var none *overloadGuard
	if none.shed() || none.Share() != 0 {
		t.Fatal("a nil guard sheds")
	}
}

func TestOverloadGuardP99(t *testing.T) {
	g := newOverloadGuard(time.Millisecond)
	h := &metrics.Float64Histogram{Buckets: []float64{0, 1e-4, 1e-3, 1e-2, 1e-1}, Counts: []uint64{0, 0, 0, 0}}
	if p := g.p99(h); p != 0 {
		t.Fatalf("first read %v", p)
	}
	// 980 fast goroutine wake-ups and 20 slow ones since the last read: p99 falls in the 1-10 ms bucket.
	h.Counts = []uint64{980, 0, 20, 0}
	if p := g.p99(h); p != 1e-3 {
		t.Fatalf("p99 %v, want the 1 ms bucket", p)
	}
	// Only the delta counts: 1000 more fast ones.
	h.Counts = []uint64{1980, 0, 20, 0}
	if p := g.p99(h); p != 0 {
		t.Fatalf("p99 of the calm interval %v", p)
	}
}
