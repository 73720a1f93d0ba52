package store

import (
	"math"
	"sync"
	"testing"
	"unsafe"
)

// t0 is a multiple of every bucket length (4 h is a multiple of 10 s, 100 s and 10 min), so offsets from it map to
// bucket boundaries the tests can reason about.
const t0 = 14400 * 118056 // 2023-11-15T00:00:00Z

// Velocity is a table of subjects whose records hold only their rings (the kind of ASNs), with the methods the
// tests of the rings count and read through.
type Velocity = kindTable[ringOnly, *ringOnly]

func NewVelocity(maxKeys int) *Velocity { return newKindTable[ringOnly](kindASN, maxKeys) }

// Add counts n events of metric m for key at time at.
func (t *kindTable[F, PF]) Add(key uint64, m Metric, at int64, n uint32) {
	if m >= NumMetrics || n == 0 {
		return
	}
	ix := bucketIndices(at)
	sh := t.shard(key)
	sh.mu.Lock()
	p, ok := sh.find(key)
	if !ok {
		p = insertAt(sh, key, &ix)
	}
	r := sh.rec(p)
	r.add(m, &ix, n)
	sh.mu.Unlock()
}

// Read fills out with key's counts as of at.
func (t *kindTable[F, PF]) Read(key uint64, at int64, out *[NumMetrics]Counts) {
	*out = [NumMetrics]Counts{}
	ix := bucketIndices(at)
	sh := t.shard(key)
	sh.mu.Lock()
	if r := sh.get(key); r != nil {
		r.read(&ix, out)
	}
	sh.mu.Unlock()
}

// ReadAdd reads key's counts as of at, then counts one event of each metric in ms.
func (t *kindTable[F, PF]) ReadAdd(key uint64, at int64, out *[NumMetrics]Counts, ms MetricSet) {
	t.observe(key, Subjects{}, at, ms, out, new(Facts))
}

func (t *kindTable[F, PF]) Delete(key uint64) { t.delete(key) }

func read(v *Velocity, key uint64, at int64) [NumMetrics]Counts {
	var out [NumMetrics]Counts
	v.Read(key, at, &out)
	return out
}

func checkCounts(t *testing.T, v *Velocity, key uint64, m Metric, at int64, want Counts) {
	t.Helper()
	if got := read(v, key, at)[m]; got != want {
		t.Errorf("Read(%d, t0%+d)[%d] = %v, want %v (minute, 10 min, hour, day)", key, at-t0, m, got, want)
	}
}

func TestVelocityWindows(t *testing.T) {
	v := NewVelocity(0)
	const k = 42
	for _, at := range []int64{t0, t0 + 30, t0 + 61} {
		v.Add(k, Attempts, at, 1)
	}
	for _, c := range []struct {
		at   int64
		want Counts
	}{
		{t0 + 61, Counts{2, 3, 3, 3}},
		// Minute's ring moved to [t0+10, t0+70) when t0+61 came, so t0 is gone from it even 59 s later.
		{t0 + 59, Counts{1, 3, 3, 3}},
		{t0 + 29, Counts{0, 3, 3, 3}}, // t0+30 and t0+61 are in later 10 s buckets: not counted
		{t0 + 115, Counts{1, 3, 3, 3}},
		{t0 + 120, Counts{0, 3, 3, 3}}, // t0+61 is 59 s old but its bucket [t0+60, t0+70) left the window
		{t0 + 599, Counts{0, 3, 3, 3}},
		{t0 + 600, Counts{0, 0, 3, 3}},
		{t0 + 3599, Counts{0, 0, 3, 3}},
		{t0 + 3600, Counts{0, 0, 0, 3}},
		{t0 + 86399, Counts{0, 0, 0, 3}},
		{t0 + 86400, Counts{}},
	} {
		checkCounts(t, v, k, Attempts, c.at, c.want)
	}
	got := read(v, k, t0+61)
	if got[Failures] != (Counts{}) || got[Successes] != (Counts{}) {
		t.Errorf("other metrics = %v, %v, want zeros", got[Failures], got[Successes])
	}
	if got := read(v, 7, t0); got != ([NumMetrics]Counts{}) {
		t.Errorf("unknown key reads %v, want zeros", got)
	}
}

func TestVelocityRingReuse(t *testing.T) {
	v := NewVelocity(0)
	const k = 1
	for i := range int64(6) {
		v.Add(k, Failures, t0+10*i, 1)
	}
	checkCounts(t, v, k, Failures, t0+50, Counts{6, 6, 6, 6})
	checkCounts(t, v, k, Failures, t0+60, Counts{5, 6, 6, 6})

	// t0+65 lands in the ring slot t0 used: the slot must be cleared, not added to.
	v.Add(k, Failures, t0+65, 1)
	checkCounts(t, v, k, Failures, t0+65, Counts{6, 7, 7, 7})
	checkCounts(t, v, k, Failures, t0+69, Counts{6, 7, 7, 7})

	// A jump past the whole ring clears it.
	v.Add(k, Failures, t0+200, 1)
	checkCounts(t, v, k, Failures, t0+200, Counts{1, 8, 8, 8})
	v.Add(k, Failures, t0+4*3600, 1) // next 4 h bucket: Day keeps everything, Hour only this event
	checkCounts(t, v, k, Failures, t0+4*3600, Counts{1, 1, 1, 9})
}

func TestVelocityOutOfOrder(t *testing.T) {
	v := NewVelocity(0)
	const k = 9
	v.Add(k, Successes, t0+600, 1)
	v.Add(k, Successes, t0+500, 1) // too old for Minute's ring, still in TenMinutes'
	v.Add(k, Successes, t0+595, 1) // 5 s in the past: Minute still holds its bucket
	checkCounts(t, v, k, Successes, t0+600, Counts{2, 3, 3, 3})

	v.Add(k, Successes, t0-3600, 1) // Hour's ring no longer holds it, Day's does
	checkCounts(t, v, k, Successes, t0+600, Counts{2, 3, 3, 4})

	v.Add(k, Successes, t0-2*86400, 1) // older than every ring: dropped
	checkCounts(t, v, k, Successes, t0+600, Counts{2, 3, 3, 4})

	// An out-of-order event keeps the newer head: a later in-order event still counts from t0+600.
	v.Add(k, Successes, t0+601, 1)
	checkCounts(t, v, k, Successes, t0+601, Counts{3, 4, 4, 5})
}

func TestVelocityReadPast(t *testing.T) {
	v := NewVelocity(0)
	const k = 3
	v.Add(k, Attempts, t0, 1)
	v.Add(k, Attempts, t0+20, 1)
	checkCounts(t, v, k, Attempts, t0+5, Counts{1, 2, 2, 2}) // t0+20's 10 s bucket is in the future of t0+5

	v.Add(k, Attempts, t0+3000, 1)
	// At t0+300 the t0+3000 event is in Hour's ring but in a later bucket: not counted. Minute and TenMinutes
	// reused the buckets t0 and t0+20 were in, so they have nothing for t0+300.
	checkCounts(t, v, k, Attempts, t0+300, Counts{0, 0, 2, 3})
	checkCounts(t, v, k, Attempts, t0+3000, Counts{1, 1, 3, 3})

	// Reads do not move the rings: a read far ahead leaves the counts of the present intact.
	checkCounts(t, v, k, Attempts, t0+1e7, Counts{})
	checkCounts(t, v, k, Attempts, t0-1e7, Counts{})
	checkCounts(t, v, k, Attempts, t0+3000, Counts{1, 1, 3, 3})
}

func TestVelocityTimeBefore1970(t *testing.T) {
	v := NewVelocity(0)
	for _, at := range []int64{-15, -5, 5} {
		v.Add(1, Attempts, at, 1)
	}
	// -15 and -5 are in consecutive buckets [-20, -10) and [-10, 0), not both in a bucket "0".
	checkCounts(t, v, 1, Attempts, -1, Counts{2, 2, 2, 2}) // 5 is in the future of -1
	checkCounts(t, v, 1, Attempts, 5, Counts{3, 3, 3, 3})
	checkCounts(t, v, 1, Attempts, 45, Counts{2, 3, 3, 3})
}

func TestVelocitySaturates(t *testing.T) {
	v := NewVelocity(0)
	const k = 5
	v.Add(k, Failures, t0, 65000)
	v.Add(k, Failures, t0, 535)
	checkCounts(t, v, k, Failures, t0, Counts{65535, 65535, 65535, 65535})
	v.Add(k, Failures, t0, 1)
	v.Add(k, Failures, t0, math.MaxUint32)
	checkCounts(t, v, k, Failures, t0, Counts{65535, 65535, 65535, 65535})

	// Saturation is per bucket: the sum over a window goes beyond 65535.
	v.Add(k, Failures, t0+10, 70000)
	checkCounts(t, v, k, Failures, t0+10, Counts{131070, 65535, 65535, 65535})

	w := NewVelocity(0)
	w.Add(k, Attempts, t0, math.MaxUint32)
	checkCounts(t, w, k, Attempts, t0, Counts{65535, 65535, 65535, 65535})
}

func TestVelocityIgnoresNothingToCount(t *testing.T) {
	v := NewVelocity(0)
	v.Add(1, NumMetrics, t0, 1)
	v.Add(2, Attempts, t0, 0)
	if n := v.Len(); n != 0 {
		t.Errorf("Len() = %d after no-op Adds, want 0", n)
	}
}

func TestVelocityConcurrent(t *testing.T) {
	const (
		goroutines = 16
		perG       = 10000
		keys       = 4
	)
	v := NewVelocity(0)
	event := func(g, i int) (key uint64, m Metric, at int64, n uint32) {
		// Times spread over one minute and arrive out of order, so goroutines race to move the rings.
		return uint64(i % keys), Metric(i / keys % int(NumMetrics)), t0 + int64((g*7919+i*31)%60), uint32(1 + i%2)
	}
	var want [keys][NumMetrics]uint32
	for g := range goroutines {
		for i := range perG {
			k, m, _, n := event(g, i)
			want[k][m] += n
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{}) // all goroutines start together, so their Adds overlap
	for g := range goroutines {
		wg.Go(func() {
			<-start
			var sink [NumMetrics]Counts
			for i := range perG {
				v.Add(event(g, i))
				if i%64 == 0 {
					v.Read(uint64(i%keys), t0+59, &sink)
					v.Delete(uint64(1000 + g)) // other keys come and go meanwhile
					v.Add(uint64(1000+g), Attempts, t0, 1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for k := range keys {
		got := read(v, uint64(k), t0+59)
		for m := range NumMetrics {
			w := want[k][m]
			if got[m] != (Counts{w, w, w, w}) {
				t.Errorf("key %d metric %d: %v, want %d in every window", k, m, got[m], w)
			}
		}
	}
	if n := v.Len(); n != keys+goroutines {
		t.Errorf("Len() = %d, want %d", n, keys+goroutines)
	}
}

func TestVelocityBounded(t *testing.T) {
	for _, maxKeys := range []int{1, 5, 16, 100, 1000, 5000} {
		v := NewVelocity(maxKeys)
		for i := range uint64(10 * maxKeys) {
			v.Add(mix(i), Attempts, t0+int64(i), 1)
			if i%16 != 0 {
				continue
			}
			if n := v.Len(); n > maxKeys {
				t.Fatalf("maxKeys %d: Len() = %d after %d keys", maxKeys, n, i+1)
			}
		}
		total := 0
		for i := range v.shards {
			total += int(v.shards[i].max)
		}
		if total != maxKeys || v.Len() != maxKeys {
			t.Errorf("maxKeys %d: shard bounds add up to %d, Len() = %d; want both %d", maxKeys, total, v.Len(), maxKeys)
		}
	}
	if v := NewVelocity(-1); len(v.shards) != 1<<maxShardBits || v.shards[0].max != DefaultVelocityKeys>>maxShardBits {
		t.Errorf("NewVelocity(-1): %d shards of %d keys, want the default", len(v.shards), v.shards[0].max)
	}
}

func TestVelocityEvictsStaleFirst(t *testing.T) {
	const (
		maxKeys = 4096
		recent  = maxKeys / 4
		spray   = maxKeys / 4
	)
	v := NewVelocity(maxKeys)
	next := uint64(0)
	for v.Len() < maxKeys || next < 2*maxKeys { // fill every shard with stale keys
		v.Add(mix(next), Attempts, t0, 1)
		next++
	}
	recentFrom := next
	for range recent {
		v.Add(mix(next), Attempts, t0+1000, 1)
		next++
	}
	sprayFrom := next
	for range spray {
		v.Add(mix(next), Attempts, t0+2000, 1)
		next++
	}
	held := func(from, to uint64) int {
		n := 0
		for i := from; i < to; i++ {
			if read(v, mix(i), t0+2000)[Attempts][Day] != 0 {
				n++
			}
		}
		return n
	}
	if n := v.Len(); n != maxKeys {
		t.Errorf("Len() = %d, want the table full at %d: eviction must not clear it", n, maxKeys)
	}
	// While half the table is stale, a sample of 8 holds only fresh keys with probability 1/256: a fresh key is
	// evicted only when its shard happens to run out of stale ones.
	r, s := held(recentFrom, sprayFrom), held(sprayFrom, next)
	if r < recent*95/100 || s < spray*95/100 {
		t.Errorf("kept %d/%d recent and %d/%d newest keys, want >= 95%% of each: stale keys should go first", r, recent, s, spray)
	}
	t.Logf("kept %d/%d recent and %d/%d newest keys", r, recent, s, spray)
	if stale := held(0, recentFrom); stale+r+s != maxKeys {
		t.Errorf("held %d stale + %d recent + %d newest keys, want %d in all", stale, r, s, maxKeys)
	}
}

func TestVelocityDelete(t *testing.T) {
	v := NewVelocity(0)
	for k := range uint64(3) {
		v.Add(k, Attempts, t0, uint32(k+1))
	}
	v.Delete(1)
	v.Delete(99) // unknown: no-op
	if n := v.Len(); n != 2 {
		t.Errorf("Len() = %d after Delete, want 2", n)
	}
	checkCounts(t, v, 0, Attempts, t0, Counts{1, 1, 1, 1})
	checkCounts(t, v, 1, Attempts, t0, Counts{})
	checkCounts(t, v, 2, Attempts, t0, Counts{3, 3, 3, 3})
	v.Add(1, Attempts, t0, 5) // a deleted key starts again from nothing
	checkCounts(t, v, 1, Attempts, t0, Counts{5, 5, 5, 5})
}

// TestVelocityDeleteMovesRecords fills one shard over several chunks and deletes in a scattered order, so that the
// record moved into each hole must keep its own counts, and chunks are given back.
func TestVelocityDeleteMovesRecords(t *testing.T) {
	v := NewVelocity(20) // one shard
	n := 5 * int(v.shards[0].chunkLen)
	v.shards[0].shelf = newShelf[subjectRecord[ringOnly, *ringOnly]](uint32(n), uint32(n))
	for i := range uint64(n) {
		v.Add(mix(i), Attempts, t0, uint32(i+1))
	}
	deleted := make([]bool, n)
	for j := range n {
		i := j * 37 % n // 37 is prime to n: every key once
		v.Delete(mix(uint64(i)))
		deleted[i] = true
		if j%16 != 0 {
			continue
		}
		for q := range n {
			want := uint32(q + 1)
			if deleted[q] {
				want = 0
			}
			if got := read(v, mix(uint64(q)), t0)[Attempts][Minute]; got != want {
				t.Fatalf("after %d deletes: key %d reads %d, want %d", j+1, q, got, want)
			}
		}
	}
	s := &v.shards[0]
	if v.Len() != 0 || s.index.n != 0 || s.used > 1 {
		t.Errorf("after deleting all: Len %d, index %d, chunks %d; want 0, 0, <= 1", v.Len(), s.index.n, s.used)
	}
	for c := range s.used {
		recs := unsafe.Slice(s.chunks[c].Load(), s.chunkLen)
		for i := range recs {
			if recs[i] != (subjectRecord[ringOnly, *ringOnly]{}) {
				t.Fatalf("record %d still holds %+v after Delete", i, recs[i])
			}
		}
	}
}

// mix spreads test key numbers over 64 bits as the hashes callers pass would be.
func mix(i uint64) uint64 {
	i += 0x9E3779B97F4A7C15
	i = (i ^ i>>30) * 0xBF58476D1CE4E5B9
	i = (i ^ i>>27) * 0x94D049BB133111EB
	return i ^ i>>31
}
