package server

import (
	"math/rand/v2"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// overloadGuard sheds a share of requests while the process is CPU-saturated. Its signal is the Go
// scheduler's latency (how long runnable goroutines wait for a CPU), read from runtime/metrics: when it climbs,
// every request waits in line for the CPU, and the queues that form in sockets and callers' connection pools
// are invisible from inside. Answering a share of requests with a cheap 503 (or the fail-policy decision)
// lowers the cost per request, so the rest are answered in time. The share rises while the scheduler's p99
// latency is above the threshold and falls back when it is not.
type overloadGuard struct {
	threshold float64       // seconds
	share     atomic.Uint32 // of requests to shed, in 1/65536
	sample    []metrics.Sample
	prev      []uint64
}

const (
	shedStep     = 65536 / 10       // +10 % per hot tick
	shedRelease  = 65536 / 20       // -5 % per calm tick
	shedMax      = 65536 * 95 / 100 // always let some traffic through, to see when to stop
	guardTick    = 50 * time.Millisecond
	schedLatency = "/sched/latencies:seconds"
)

func newOverloadGuard(threshold time.Duration) *overloadGuard {
	return &overloadGuard{threshold: threshold.Seconds(), sample: []metrics.Sample{{Name: schedLatency}}}
}

// shed reports whether to shed this request. It allocates nothing.
func (g *overloadGuard) shed() bool {
	if g == nil {
		return false
	}
	s := g.share.Load()
	return s != 0 && rand.Uint32()&0xffff < s
}

// run adjusts the share every tick until stop is closed.
func (g *overloadGuard) run(stop <-chan struct{}) {
	t := time.NewTicker(guardTick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			g.tick()
		}
	}
}

func (g *overloadGuard) tick() {
	metrics.Read(g.sample)
	if g.sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return
	}
	g.adjust(g.p99(g.sample[0].Value.Float64Histogram()) > g.threshold)
}

// adjust raises the share after a hot tick and lowers it after a calm one.
func (g *overloadGuard) adjust(hot bool) {
	s := g.share.Load()
	switch {
	case hot:
		s = min(s+shedStep, shedMax)
	case s > shedRelease:
		s -= shedRelease
	default:
		s = 0
	}
	g.share.Store(s)
}

// p99 is the 99th percentile of the scheduling latencies observed since the last tick.
func (g *overloadGuard) p99(h *metrics.Float64Histogram) float64 {
	if len(g.prev) != len(h.Counts) {
		g.prev = make([]uint64, len(h.Counts))
		copy(g.prev, h.Counts)
		return 0
	}
	var total uint64
	for i, c := range h.Counts {
		total += c - g.prev[i]
	}
	var p99 float64
	if total > 0 {
		want := total - total/100
		var seen uint64
		for i, c := range h.Counts {
			seen += c - g.prev[i]
			if seen >= want {
				p99 = h.Buckets[i] // the bucket's lower bound: a conservative estimate
				break
			}
		}
	}
	copy(g.prev, h.Counts)
	return p99
}

// Share is the share of requests being shed now, 0 to 1.
func (g *overloadGuard) Share() float64 {
	if g == nil {
		return 0
	}
	return float64(g.share.Load()) / 65536
}
