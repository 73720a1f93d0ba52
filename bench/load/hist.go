package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram is a log-linear latency histogram in the manner of HdrHistogram: values below 2^histSubBits ns
// are counted exactly, larger ones in 2^histSubBits linear buckets per power of two, so every bucket is at
// most 1/128 (0.8 %) of its value wide, from 1 ns to 68 s in 3,840 counters. Recording is one atomic add, so
// every worker records into the same histogram without a lock; reading while workers record is safe and
// gives a value between two consistent states.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // ns; 2^64 ns is 584 years, it does not overflow
	max    atomic.Uint64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histMaxBits = 36 // 2^36 ns = 68.7 s; longer values count in the top bucket (max stays exact)
	histBuckets = (histMaxBits - histSubBits + 1) * histSub
)

// bucketOf maps v to its bucket: v itself below histSub, then for each power of two 2^k (k >= histSubBits)
// the histSub buckets of width 2^(k-histSubBits) that cover [2^k, 2^(k+1)).
func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	if v >= 1<<histMaxBits {
		v = 1<<histMaxBits - 1
	}
	shift := bits.Len64(v) - 1 - histSubBits
	return (shift+1)<<histSubBits + int(v>>shift) - histSub
}

// bucketRange is the inclusive range of values bucket i counts.
func bucketRange(i int) (lo, hi uint64) {
	if i < histSub {
		return uint64(i), uint64(i)
	}
	shift := i>>histSubBits - 1
	m := uint64(i&(histSub-1) + histSub)
	lo = m << shift
	return lo, lo + 1<<shift - 1
}

// Record counts one value; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max is the largest value recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the mean of the values recorded, 0 when none.
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile is the smallest value v such that at least q of the values are <= v, reported as the top of its
// bucket (never above Max): a histogram can only over-state a latency by its bucket width, never hide it.
// It is 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	mx := h.max.Load()
	if q >= 1 {
		return time.Duration(mx)
	}
	rank := uint64(q*float64(n) + 0.999999999) // ceil without float surprises at exact ranks
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			if i == histBuckets-1 {
				return time.Duration(mx) // the top bucket also holds every value past the range
			}
			_, hi := bucketRange(i)
			return time.Duration(min(hi, mx))
		}
	}
	return time.Duration(mx) // counts still arriving from concurrent writers: the max is a safe answer
}

// Merge adds o's counts into h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	for v := o.max.Load(); ; {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}
