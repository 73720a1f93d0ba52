package store

import "math"

// Window is one of the sliding windows every counter keeps.
//
// Each window is a ring of ringLen buckets: Minute has 10 s buckets, TenMinutes 100 s, Hour 10 min and Day 4 h.
// With idx(t) = floor(t / bucket length), a window's count at time t is the sum of the buckets whose index lies in
// (idx(t)-6, idx(t)]. So the window's edge is exact to one bucket: it reaches back between 5/6 of its nominal length
// and all of it (Minute counts the last 50 to 60 s, Day the last 20 to 24 h), depending on where t falls in its
// bucket. Buckets never hold events from the future of t.
type Window int

const (
	Minute     Window = iota // last 60 s
	TenMinutes               // last 10 min
	Hour                     // last 60 min
	Day                      // last 24 h
	NumWindows
)

// Metric is one of the counters kept per key.
type Metric uint8

const (
	Attempts Metric = iota
	Failures
	Successes
	NumMetrics
)

// MetricSet is a set of metrics, one bit per Metric.
type MetricSet uint8

// SetOf returns the set of the given metrics.
func SetOf(ms ...Metric) MetricSet {
	var s MetricSet
	for _, m := range ms {
		s |= 1 << m
	}
	return s
}

// Has reports whether m is in s.
func (s MetricSet) Has(m Metric) bool { return s&(1<<m) != 0 }

// Counts is one metric's value in each window.
type Counts [NumWindows]uint32

// DefaultVelocityKeys is the bound on the subjects of each kind that memory holds when given none. A subject
// costs about 230 to 400 bytes, table included, by what its kind keeps (TestSubjectBytesPerKey).
const DefaultVelocityKeys = 1 << 20

const (
	ringLen = 6 // buckets per window

	// ringBodyLen is the length of a velocityRecord's bytes (appendBody): its heads, then its counts.
	ringBodyLen = 4*int(NumWindows) + 2*int(NumWindows)*int(NumMetrics)*ringLen

	// evictSamples is how many keys a full shard looks at to pick the one to evict: the oldest of 8 random keys is
	// on average older than 8/9 of the shard, found without scanning it.
	evictSamples = 8

	// Shards spread lock contention; a shard keeps at least minShardKeys so that sampled eviction has a choice.
	maxShardBits = 7
	minShardKeys = 16
)

// velocityRecord is a subject's sliding-window counters, part of its record (subjectRecord). Time is event time,
// passed in by the caller: an event older than what a window's ring still holds is not counted in that window
// (longer windows that still hold it count it), a newer one moves the ring forward.
type velocityRecord struct {
	// head is, per window, the index of the newest bucket the ring holds; the ring holds (head-ringLen, head].
	// Indices fit int32 for event times up to the year 2650; callers refuse timestamps far from the present, and
	// a wild one only miscounts its own key.
	head [NumWindows]int32
	// n is [window][metric][bucket index mod ringLen]. Saturates at 65535 per bucket rather than wrap, so a flood
	// reads as "very many", never as few.
	n [NumWindows][NumMetrics][ringLen]uint16
}

// add counts n events of metric m in the buckets ix, one per window.
func (r *velocityRecord) add(m Metric, ix *[NumWindows]int32, n uint32) {
	for w := range NumWindows {
		i, h := int64(ix[w]), int64(r.head[w])
		switch {
		case i > h:
			r.advance(w, h, i)
		case i <= h-ringLen:
			continue // older than this ring holds: longer windows may still count it
		}
		b := &r.n[w][m][slot(i)]
		if uint32(math.MaxUint16-*b) <= n {
			*b = math.MaxUint16
		} else {
			*b += uint16(n)
		}
	}
}

// advance moves window w's ring from head h to head i > h, clearing the buckets that fall out of it.
func (r *velocityRecord) advance(w Window, h, i int64) {
	if i-h >= ringLen {
		r.n[w] = [NumMetrics][ringLen]uint16{}
	} else {
		for j := h + 1; j <= i; j++ {
			s := slot(j)
			for m := range NumMetrics {
				r.n[w][m][s] = 0
			}
		}
	}
	r.head[w] = int32(i)
}

// read adds to out the buckets in (ix-ringLen, ix] that the rings still hold, i.e. that also lie in
// (head-ringLen, head]. It does not move the rings, so reads never change what later reads see.
func (r *velocityRecord) read(ix *[NumWindows]int32, out *[NumMetrics]Counts) {
	for w := range NumWindows {
		i, h := int64(ix[w]), int64(r.head[w])
		k := ringLen - max(i-h, h-i) // buckets in both ranges, the newest being min(i, h)
		if k <= 0 {
			continue
		}
		b := &r.n[w]
		if k == ringLen { // the common case: reading at the head's bucket
			for m := range NumMetrics {
				out[m][w] = uint32(b[m][0]) + uint32(b[m][1]) + uint32(b[m][2]) +
					uint32(b[m][3]) + uint32(b[m][4]) + uint32(b[m][5])
			}
			continue
		}
		for s := slot(min(i, h)); k > 0; k-- {
			for m := range NumMetrics {
				out[m][w] += uint32(b[m][s])
			}
			if s == 0 {
				s = ringLen
			}
			s--
		}
	}
}

// bucketIndices returns the bucket index of time at in each window. Constant divisors let the compiler use
// multiplications.
func bucketIndices(at int64) [NumWindows]int32 {
	return [NumWindows]int32{
		Minute:     int32(floorDiv(at, 10)),
		TenMinutes: int32(floorDiv(at, 100)),
		Hour:       int32(floorDiv(at, 600)),
		Day:        int32(floorDiv(at, 4*3600)),
	}
}

// floorDiv rounds toward minus infinity, so times before 1970 still fall into consecutive buckets.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// slot is the ring position of bucket index j.
func slot(j int64) int {
	s := j % ringLen
	if s < 0 {
		s += ringLen
	}
	return int(s)
}
