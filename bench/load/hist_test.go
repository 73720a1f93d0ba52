package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBucketsCoverEveryValueOnce(t *testing.T) {
	// Contiguous and non-overlapping: each bucket starts right after the previous one ends.
	for i := 1; i < histBuckets; i++ {
		_, prevHi := bucketRange(i - 1)
		lo, hi := bucketRange(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d is [%d, %d], previous ends at %d", i, lo, hi, prevHi)
		}
	}
	if _, hi := bucketRange(histBuckets - 1); hi != 1<<histMaxBits-1 {
		t.Fatalf("top bucket ends at %d, want 2^%d-1", hi, histMaxBits)
	}
}

func TestBucketOfIsWithinRangeAndPrecise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(v uint64) {
		i := bucketOf(v)
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		// The promise of the log-linear layout: a bucket is at most 1/128 of its values wide.
		if width := hi - lo + 1; v >= histSub && width*histSub > lo {
			t.Fatalf("value %d: bucket [%d, %d] is wider than 1/%d", v, lo, hi, histSub)
		}
	}
	for v := range uint64(1 << 12) {
		check(v)
	}
	for range 200_000 {
		check(rng.Uint64N(1 << histMaxBits))
	}
	for k := range histMaxBits {
		check(1<<k - 1)
		check(1 << k)
	}
}

func TestQuantilesOfSmallSetsAreExact(t *testing.T) {
	var h Histogram
	for v := 1; v <= 10; v++ {
		h.Record(time.Duration(v))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.1, 1}, {0.5, 5}, {0.9, 9}, {0.91, 10}, {0.99, 10}, {1, 10}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %d, want %d", c.q, got, c.want)
		}
	}
	if h.Count() != 10 || h.Max() != 10 || h.Mean() != 5 {
		t.Errorf("count %d max %d mean %d, want 10, 10, 5", h.Count(), h.Max(), h.Mean())
	}
}

func TestQuantilesOfUniformLatencies(t *testing.T) {
	var h Histogram
	for us := 1; us <= 100_000; us++ { // 1 µs .. 100 ms
		h.Record(time.Duration(us) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {0.999, 99900 * time.Microsecond}} {
		got := h.Quantile(c.q)
		// Reported as the top of the bucket: never below the true value, at most 1/128 above.
		if got < c.want || float64(got) > float64(c.want)*(1+1.0/histSub) {
			t.Errorf("Quantile(%v) = %v, want %v to +0.8 %%", c.q, got, c.want)
		}
	}
	if h.Max() != 100*time.Millisecond {
		t.Errorf("Max = %v, want exactly 100ms", h.Max())
	}
}

func TestEmptyNegativeAndHugeValues(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Fatal("an empty histogram reports something")
	}
	h.Record(-time.Second) // a clock oddity counts as 0, never as a wrapped-around huge value
	h.Record(10 * time.Minute)
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("median of {-1s→0, 10m} = %v, want 0", got)
	}
	if got := h.Quantile(1); got != 10*time.Minute {
		t.Errorf("max = %v, want 10m: values past the top bucket keep their exact max", got)
	}
	if got := h.Quantile(0.99); got != 10*time.Minute {
		t.Errorf("p99 = %v, want the max (10m) since the top bucket is capped by it", got)
	}
}

func TestMergeEqualsRecordingEverything(t *testing.T) {
	var a, b, all Histogram
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 50_000 {
		v := time.Duration(rng.ExpFloat64() * float64(time.Millisecond))
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
		all.Record(v)
	}
	a.Merge(&b)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("q %v: merged %v, all %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != all.Count() || a.Max() != all.Max() || a.Mean() != all.Mean() {
		t.Errorf("merged count/max/mean %d/%v/%v, all %d/%v/%v", a.Count(), a.Max(), a.Mean(), all.Count(), all.Max(), all.Mean())
	}
}

func TestConcurrentRecording(t *testing.T) {
	var h Histogram
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 10_000 {
				h.Record(time.Duration(g*10_000 + i))
			}
		}()
	}
	for range 4 {
		<-done
	}
	if h.Count() != 40_000 || h.Max() != 39_999 {
		t.Fatalf("count %d max %d, want 40000 and 39999: an increment was lost", h.Count(), h.Max())
	}
}
