package store

import (
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/riskd/riskd/internal/prefetch"
)

// keyTagInverse is the inverse of keyTag's multiplier modulo 2^64: keyWithTag uses it to make keys with a tag of
// the test's choosing, to crowd buckets and to give keys the same tag on purpose.
const keyTagInverse = 0xF1DE83E19937733D

// keyWithTag returns a key whose keyTag is tag; salt chooses among the 2^32 such keys (the bits of the product
// that keyTag drops).
func keyWithTag(tag uint32, salt uint64) uint64 {
	return (uint64(tag)<<25 | salt&(1<<25-1) | salt>>25<<57) * keyTagInverse
}

// keyIndexRaceBuild reports whether the test binary runs under the race detector, whose instrumented atomics make
// the index tests several times slower.
func keyIndexRaceBuild() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// checkKeyIndex checks x's table against keys, the keys of the records at positions [0, len(keys)): one entry
// per position and no other, each with its key's tag, and every bucket's overflow counting exactly the entries
// whose probe from their home bucket passed it (which is also what keeps every entry reachable).
func checkKeyIndex(tb testing.TB, x *keyIndex, keys []uint64) {
	tb.Helper()
	if int(x.n) != len(keys) {
		tb.Fatalf("n = %d with %d keys held", x.n, len(keys))
	}
	t := x.t.Load()
	if t == nil {
		if len(keys) != 0 {
			tb.Fatalf("no table with %d keys held", len(keys))
		}
		return
	}
	size := len(t.buckets)
	if size < 2 || size&(size-1) != 0 || t.mask != uint32(size-1) {
		tb.Fatalf("%d buckets with mask %#x", size, t.mask)
	}
	if uint64(len(keys))*8 > uint64(size)*bucketEntries*5 {
		tb.Fatalf("%d keys in %d buckets: more than 5/8 full", len(keys), size)
	}
	seen := make([]bool, len(keys))
	overflow := make([]uint64, size)
	for b := range t.buckets {
		for i := range t.buckets[b].entries {
			e := t.buckets[b].entries[i].Load()
			if e == 0 {
				continue
			}
			tag, p := uint32(e>>32), uint32(e)-1
			if int(p) >= len(keys) {
				tb.Fatalf("bucket %d entry %d points at position %d; %d held", b, i, p, len(keys))
			}
			if seen[p] {
				tb.Fatalf("bucket %d entry %d: a second entry for position %d", b, i, p)
			}
			seen[p] = true
			if want := keyTag(keys[p]); tag != want {
				tb.Fatalf("bucket %d entry %d: tag %#x for position %d, whose key has tag %#x", b, i, tag, p, want)
			}
			for c := tag & t.mask; c != uint32(b); c = (c + 1) & t.mask {
				overflow[c]++
			}
		}
	}
	for p, ok := range seen {
		if !ok {
			tb.Fatalf("no entry for position %d (key %#x)", p, keys[p])
		}
	}
	for b := range t.buckets {
		if got := t.buckets[b].overflow.Load(); got != overflow[b] {
			tb.Fatalf("bucket %d: overflow %d, %d entries passed it", b, got, overflow[b])
		}
	}
}

// indexModel drives a keyIndex as the store does and holds what it must agree with: the keys at the dense
// positions [0, len(keys)) and a map from key to position.
type indexModel struct {
	tb   testing.TB
	x    keyIndex
	keys []uint64
	pos  map[uint64]uint32
	max  int // inserting into max keys evicts one
	// fixed is a position below which keys are never evicted nor deleted, so that they never move.
	fixed int
	// reserved tags are kept by the fixed keys alone.
	reserved map[uint32]bool
	hot      [3]uint32 // low tag bits shared by crowded keys
	// looking is the tag of the key being found: find may ask keyAt only about entries with that tag.
	looking uint32
}

func newIndexModel(tb testing.TB, bound int, r *rand.Rand) *indexModel {
	// 0xFFF puts crowded keys in the last bucket at every size up to 4096 buckets, so that their probes wrap.
	return &indexModel{tb: tb, pos: make(map[uint64]uint32), max: bound, hot: [3]uint32{0, 0xFFF, r.Uint32() & 0xFFF}}
}

func (m *indexModel) keyAt(p uint32) uint64 {
	if int(p) >= len(m.keys) {
		m.tb.Fatalf("keyAt(%d) with %d keys held", p, len(m.keys))
	}
	k := m.keys[p]
	if keyTag(k) != m.looking {
		m.tb.Fatalf("find of a key with tag %#x read position %d, whose key has tag %#x", m.looking, p, keyTag(k))
	}
	return k
}

func (m *indexModel) find(key uint64) (uint32, bool) {
	m.looking = keyTag(key)
	return m.x.find(key, m.keyAt)
}

// newKey returns a key not held: a random one, one crowding a hot bucket, or one with a held key's tag.
func (m *indexModel) newKey(r *rand.Rand) uint64 {
	for {
		var k uint64
		switch c := r.IntN(8); {
		case c < 4:
			k = r.Uint64()
		case c < 6:
			k = keyWithTag(r.Uint32()&^0xFFF|m.hot[r.IntN(len(m.hot))], r.Uint64())
		default:
			if len(m.keys) == 0 {
				continue
			}
			k = keyWithTag(keyTag(m.keys[r.IntN(len(m.keys))]), r.Uint64())
		}
		if _, held := m.pos[k]; !held && !m.reserved[keyTag(k)] {
			return k
		}
	}
}

// absentWithTag returns a key not held whose tag is tag.
func (m *indexModel) absentWithTag(tag uint32, r *rand.Rand) uint64 {
	for {
		k := keyWithTag(tag, r.Uint64())
		if _, held := m.pos[k]; !held {
			return k
		}
	}
}

// add inserts key at the next position, or when full in place of a random key, and checks both.
func (m *indexModel) add(key uint64, r *rand.Rand) {
	if len(m.keys) < m.max {
		p := uint32(len(m.keys))
		m.keys = append(m.keys, key)
		m.pos[key] = p
		m.x.insert(key, p)
		m.expect(key, p)
		return
	}
	p := uint32(m.fixed + r.IntN(len(m.keys)-m.fixed))
	old := m.keys[p]
	m.x.remove(old, p)
	delete(m.pos, old)
	m.keys[p] = key
	m.pos[key] = p
	m.x.insert(key, p)
	m.expect(key, p)
	m.expectAbsent(old)
}

// drop deletes the key at p, moving the last key into its place, and checks both.
func (m *indexModel) drop(p uint32) {
	key := m.keys[p]
	m.x.remove(key, p)
	last := uint32(len(m.keys) - 1)
	if p != last {
		moved := m.keys[last]
		m.x.move(moved, last, p)
		m.keys[p] = moved
		m.pos[moved] = p
	}
	m.keys = m.keys[:last]
	delete(m.pos, key)
	m.expectAbsent(key)
	if p != last {
		m.expect(m.keys[p], p)
	}
}

func (m *indexModel) expect(key uint64, p uint32) {
	if got, ok := m.find(key); !ok || got != p {
		m.tb.Fatalf("find(%#x) = %d, %v; want %d (%d keys held)", key, got, ok, p, len(m.keys))
	}
	if int(m.x.n) != len(m.keys) {
		m.tb.Fatalf("n = %d with %d keys held", m.x.n, len(m.keys))
	}
}

func (m *indexModel) expectAbsent(key uint64) {
	if got, ok := m.find(key); ok {
		m.tb.Fatalf("find(%#x) = %d for a key not held", key, got)
	}
}

// verify checks the whole index: its structure, every held key through find and peek, and absent keys, among
// them keys with a held key's tag, which only keyAt tells apart.
func (m *indexModel) verify(r *rand.Rand) {
	m.tb.Helper()
	checkKeyIndex(m.tb, &m.x, m.keys)
	tags := make(map[uint32]int, len(m.keys))
	for _, k := range m.keys {
		tags[keyTag(k)]++
	}
	for p, k := range m.keys {
		m.expect(k, uint32(p))
		got, ok := m.x.peek(k)
		switch {
		case !ok:
			m.tb.Fatalf("peek misses held key %#x at %d", k, p)
		case int(got) >= len(m.keys) || keyTag(m.keys[got]) != keyTag(k):
			m.tb.Fatalf("peek(%#x) = %d, not a position with the key's tag", k, got)
		case tags[keyTag(k)] == 1 && got != uint32(p):
			m.tb.Fatalf("peek(%#x) = %d; the only key with its tag is at %d", k, got, p)
		}
		m.expectAbsent(m.absentWithTag(keyTag(k), r))
	}
	for range 64 {
		k := r.Uint64()
		if r.IntN(2) == 0 {
			k = keyWithTag(r.Uint32()&^0xFFF|m.hot[r.IntN(len(m.hot))], r.Uint64())
		}
		if _, held := m.pos[k]; held {
			continue
		}
		m.expectAbsent(k)
		if p, ok := m.x.peek(k); ok && tags[keyTag(k)] == 0 {
			m.tb.Fatalf("peek(%#x) = %d, but no key held has its tag", k, p)
		}
	}
}

func TestKeyIndexKeyWithTag(t *testing.T) {
	if m := uint64(0x9E3779B97F4A7C15); m*keyTagInverse != 1 {
		t.Fatal("keyTagInverse is not the inverse of keyTag's multiplier")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		tag := r.Uint32()
		if k := keyWithTag(tag, r.Uint64()); keyTag(k) != tag {
			t.Fatalf("keyTag(keyWithTag(%#x)) = %#x", tag, keyTag(k))
		}
	}
	if keyWithTag(5, 1) == keyWithTag(5, 2) || keyWithTag(5, 1<<31) == keyWithTag(5, 0) {
		t.Fatal("salts do not tell keys apart")
	}
}

func TestKeyIndexEmpty(t *testing.T) {
	var x keyIndex
	keyAt := func(p uint32) uint64 { t.Fatalf("keyAt(%d) on an empty index", p); return 0 }
	if p, ok := x.find(42, keyAt); ok {
		t.Fatalf("find on an empty index = %d", p)
	}
	if p, ok := x.peek(42); ok {
		t.Fatalf("peek on an empty index = %d", p)
	}
	x.prefetchBucket(42)
	x.remove(42, 0)
	x.move(42, 0, 1)
	checkKeyIndex(t, &x, nil)
}

// TestKeyIndexMatchesModel drives keyIndex through inserts, evictions and deletes as the store makes them, with
// keys crowding a few buckets and keys sharing tags: every operation checks the keys it touched against a map,
// and every few dozen operations the whole index is checked.
func TestKeyIndexMatchesModel(t *testing.T) {
	ops, every := 100_000, 64
	if testing.Short() || keyIndexRaceBuild() {
		ops, every = 15_000, 500
	}
	for _, c := range []struct {
		seed uint64
		max  int
	}{{1, 1000}, {2, 1000}, {3, 100}, {4, 3000}} {
		r := rand.New(rand.NewPCG(c.seed, 0x6b6579))
		m := newIndexModel(t, c.max, r)
		// Phases bias the operations so that the number of keys sweeps up to the bound and back down.
		var insertBias int
		for op := range ops {
			if op%1000 == 0 {
				insertBias = []int{8, 5, 2}[r.IntN(3)]
			}
			if len(m.keys) == 0 || r.IntN(10) < insertBias {
				m.add(m.newKey(r), r)
			} else {
				m.drop(uint32(r.IntN(len(m.keys))))
			}
			if op%(every*max(1, c.max/1000)) == 0 {
				m.verify(r)
			}
		}
		m.verify(r)
		for len(m.keys) > 0 {
			m.drop(uint32(r.IntN(len(m.keys))))
		}
		m.verify(r)
		t.Logf("seed %d, bound %d: %d buckets at the end", c.seed, c.max, len(m.x.t.Load().buckets))
	}
}

// TestKeyIndexSameTag holds many keys with one tag, homed in the last bucket so that they wrap around the
// table: find must tell them apart by keyAt, and deletes in the middle of the run must keep the rest reachable.
func TestKeyIndexSameTag(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	m := newIndexModel(t, 1000, r)
	tag := r.Uint32() | 0xFFFF
	for range 100 {
		m.add(m.absentWithTag(tag, r), r)
	}
	m.verify(r)
	for i := len(m.keys) - 1; i >= 0; i -= 3 {
		m.drop(uint32(i / 2))
		checkKeyIndex(t, &m.x, m.keys)
	}
	m.verify(r)
	for len(m.keys) > 0 {
		m.drop(0)
	}
	m.verify(r)
}

// TestKeyIndexRemoveAbsent checks that remove and move of an entry the index does not hold (a key not held, or
// a held key at another position) change nothing. An entry is known by its tag and position alone, so the keys
// chosen here share no tag with the key at the position given: with one, remove would drop that key's entry,
// which is why the store passes only a key it found at p.
func TestKeyIndexRemoveAbsent(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	m := newIndexModel(t, 1000, r)
	for range 600 {
		m.add(m.newKey(r), r)
	}
	tags := make(map[uint32]bool, len(m.keys))
	for _, k := range m.keys {
		tags[keyTag(k)] = true
	}
	for range 2000 {
		p, q := uint32(r.IntN(len(m.keys))), uint32(r.IntN(len(m.keys)))
		if k := r.Uint64(); !tags[keyTag(k)] {
			m.x.remove(k, p)
			m.x.move(k, p, q)
		}
		if k := m.keys[p]; keyTag(m.keys[q]) != keyTag(k) {
			m.x.remove(k, q)
			m.x.move(k, q, p)
		}
	}
	m.verify(r)
}

// TestKeyIndexGrowth fills an index from empty through many doublings, each one only when its drawn bound (1/2 to 5/8)
// requires it, then deletes every key as the store does, which must leave no entry and no overflow behind.
func TestKeyIndexGrowth(t *testing.T) {
	total := 200_000
	if testing.Short() || keyIndexRaceBuild() {
		total = 20_000
	}
	r := rand.New(rand.NewPCG(7, 7))
	var x keyIndex
	keys := make([]uint64, 0, total)
	held := make(map[uint64]bool, total)
	keyAt := func(p uint32) uint64 { return keys[p] }
	size, doublings := 0, 0
	for len(keys) < total {
		k := r.Uint64()
		if r.IntN(256) == 0 { // a few hundred keys in one bucket at every size up to 2^20 buckets
			k = keyWithTag(r.Uint32()&^(1<<20-1)|[]uint32{0, 1<<20 - 1}[r.IntN(2)], r.Uint64())
		}
		if held[k] {
			continue
		}
		held[k] = true
		keys = append(keys, k)
		x.insert(k, uint32(len(keys)-1))
		now := len(x.t.Load().buckets)
		if uint64(len(keys))*8 > uint64(now)*bucketEntries*5 {
			t.Fatalf("%d keys in %d buckets: more than 5/8 full", len(keys), now)
		}
		if now != size {
			if size != 0 && now != 2*size {
				t.Fatalf("grew from %d to %d buckets", size, now)
			}
			if size != 0 && uint64(len(keys))*2 <= uint64(size)*bucketEntries {
				t.Fatalf("grew at %d keys, which %d buckets hold within 1/2", len(keys), size)
			}
			size = now
			doublings++
			checkKeyIndex(t, &x, keys)
			for p, k := range keys {
				if got, ok := x.find(k, keyAt); !ok || got != uint32(p) {
					t.Fatalf("after growing to %d buckets: find(%#x) = %d, %v; want %d", size, k, got, ok, p)
				}
			}
		}
	}
	checkKeyIndex(t, &x, keys)
	want := 2
	for uint64(total)*8 > uint64(want)*bucketEntries*5 {
		want *= 2
	}
	// The doubling load is drawn between 1/2 and 5/8: one size more is right when the keys fill more than half.
	if size != want && !(size == 2*want && uint64(total)*2 > uint64(want)*bucketEntries) {
		t.Errorf("%d buckets for %d keys, want %d", size, total, want)
	}
	t.Logf("%d keys: %d buckets after %d sizes", total, size, doublings)

	for len(keys) > 0 {
		p := uint32(r.IntN(len(keys)))
		x.remove(keys[p], p)
		last := uint32(len(keys) - 1)
		if p != last {
			x.move(keys[last], last, p)
			keys[p] = keys[last]
		}
		keys = keys[:last]
		if len(keys)%(total/8) == 0 {
			checkKeyIndex(t, &x, keys)
			for p, k := range keys {
				if got, ok := x.find(k, keyAt); !ok || got != uint32(p) {
					t.Fatalf("with %d keys left: find(%#x) = %d, %v; want %d", len(keys), k, got, ok, p)
				}
			}
		}
	}
	tb := x.t.Load()
	if x.n != 0 || len(tb.buckets) != size {
		t.Fatalf("emptied: n = %d, %d buckets; want 0, %d", x.n, len(tb.buckets), size)
	}
	for b := range tb.buckets {
		for i := range tb.buckets[b].entries {
			if e := tb.buckets[b].entries[i].Load(); e != 0 {
				t.Fatalf("emptied: bucket %d entry %d holds %#x", b, i, e)
			}
		}
		if o := tb.buckets[b].overflow.Load(); o != 0 {
			t.Fatalf("emptied: bucket %d overflow %d", b, o)
		}
	}
}

// indexKeys are the keys of records by position, as a shelf reads them.
type indexKeys []uint64

func (k indexKeys) keyAt(p uint32) uint64 { return k[p] }

// TestKeyIndexFindAllocations guards the request path: find with a method value or a closure for keyAt, peek
// and prefetchBucket must not allocate.
func TestKeyIndexFindAllocations(t *testing.T) {
	const n = 4096
	r := rand.New(rand.NewPCG(9, 9))
	keys := make(indexKeys, n)
	var x keyIndex
	for p := range keys {
		keys[p] = r.Uint64()
		x.insert(keys[p], uint32(p))
	}
	// Absent keys with held keys' tags, so that find calls keyAt and still misses.
	absent := make([]uint64, n)
	for i := range absent {
		absent[i] = keyWithTag(keyTag(keys[i]), uint64(i)<<32|1)
	}
	var empty keyIndex
	var sink uint32
	i := 0
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"find, method value", func() { p, _ := x.find(keys[i%n], keys.keyAt); sink += p; i++ }},
		{"find, closure", func() {
			p, _ := x.find(keys[i%n], func(p uint32) uint64 { return keys[p] })
			sink += p
			i++
		}},
		{"find of an absent key", func() { p, _ := x.find(absent[i%n], keys.keyAt); sink += p; i++ }},
		{"find on an empty index", func() { p, _ := empty.find(keys[i%n], keys.keyAt); sink += p; i++ }},
		{"peek", func() { p, _ := x.peek(keys[i%n]); sink += p; i++ }},
		{"prefetchBucket", func() { x.prefetchBucket(keys[i%n]); i++ }},
	} {
		if a := testing.AllocsPerRun(1000, c.f); a != 0 {
			t.Errorf("%s: %v allocs/op, want 0", c.name, a)
		}
	}
	if p, ok := x.find(absent[0], keys.keyAt); ok {
		t.Fatalf("find of an absent key = %d", p)
	}
	_ = sink
}

// TestKeyIndexConcurrentPeek runs peek and prefetchBucket without the lock, as decisions do, while inserts,
// evictions, deletes and doublings go on under it. Keys that are never moved must be found by peek at their
// positions throughout; any position peek returns must be one the shard could hold.
func TestKeyIndexConcurrentPeek(t *testing.T) {
	mutations, checks := 100_000, 10
	if testing.Short() || keyIndexRaceBuild() {
		mutations, checks = 12_000, 3
	}
	const fixed, bound, readers = 200, 3000, 2
	r := rand.New(rand.NewPCG(11, 11))
	m := newIndexModel(t, bound, r)
	m.reserved = make(map[uint32]bool, fixed)
	for len(m.keys) < fixed {
		k := r.Uint64()
		if len(m.keys)%2 == 0 { // half of them deep in the runs of crowded keys
			k = keyWithTag(r.Uint32()&^0xFFF|m.hot[r.IntN(len(m.hot))], r.Uint64())
		}
		if !m.reserved[keyTag(k)] {
			m.reserved[keyTag(k)] = true
			m.add(k, r)
		}
	}
	m.fixed = fixed
	fixedKeys := append([]uint64(nil), m.keys...)
	hot := m.hot

	var (
		mu           sync.Mutex
		done         atomic.Bool
		ready, ended sync.WaitGroup
		peeks        atomic.Int64
	)
	for g := range readers {
		ready.Add(1)
		ended.Add(1)
		go func() {
			defer ended.Done()
			rr := rand.New(rand.NewPCG(uint64(g), 99))
			ready.Done()
			for n := 0; !done.Load(); n++ {
				i := rr.IntN(fixed)
				m.x.prefetchBucket(fixedKeys[i])
				if p, ok := m.x.peek(fixedKeys[i]); !ok || p != uint32(i) {
					t.Errorf("peek(%#x) = %d, %v during changes; want %d", fixedKeys[i], p, ok, i)
					return
				}
				k := rr.Uint64()
				if n%2 == 0 {
					k = keyWithTag(rr.Uint32()&^0xFFF|hot[rr.IntN(len(hot))], rr.Uint64())
				}
				m.x.prefetchBucket(k)
				if p, ok := m.x.peek(k); ok && p >= bound {
					t.Errorf("peek(%#x) = %d, beyond the bound %d", k, p, bound)
					return
				}
				peeks.Add(1)
			}
		}()
	}
	ready.Wait()
	for op := range mutations {
		mu.Lock()
		if len(m.keys) == fixed || r.IntN(10) < 6 {
			m.add(m.newKey(r), r)
		} else {
			m.drop(uint32(fixed + r.IntN(len(m.keys)-fixed)))
		}
		if op%(mutations/checks) == 0 {
			m.verify(r)
		}
		mu.Unlock()
	}
	done.Store(true)
	ended.Wait()
	m.verify(r)
	t.Logf("%d peeks during %d changes; %d buckets at the end", peeks.Load(), mutations, len(m.x.t.Load().buckets))
}

const benchIndexKeys = 1 << 20

// benchIndexSetup returns benchIndexKeys random keys, held at their positions, and the same keys in random order.
func benchIndexSetup() (keys, order []uint64) {
	r := rand.New(rand.NewPCG(13, 13))
	keys = make([]uint64, benchIndexKeys)
	for i := range keys {
		keys[i] = r.Uint64()
	}
	order = append([]uint64(nil), keys...)
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return keys, order
}

var benchIndexSink uint32

// BenchmarkKeyIndexFind looks up 1M keys in random order, every lookup a likely cache miss in the index and one
// more in the keys: the figure to set against BenchmarkKeyIndexFindGoMap.
func BenchmarkKeyIndexFind(b *testing.B) {
	keys, order := benchIndexSetup()
	var x keyIndex
	for p, k := range keys {
		x.insert(k, uint32(p))
	}
	keyAt := func(p uint32) uint64 { return keys[p] }
	b.ReportAllocs()
	var sum uint32
	for i := 0; b.Loop(); i++ {
		p, ok := x.find(order[i&(benchIndexKeys-1)], keyAt)
		if !ok {
			b.Fatal("key not found")
		}
		sum += p
	}
	benchIndexSink = sum
}

// BenchmarkKeyIndexFindPrefetched looks up the same keys eight at a time, announcing all eight buckets first
// and then all eight records as a decision does, and reports the time per key.
func BenchmarkKeyIndexFindPrefetched(b *testing.B) {
	keys, order := benchIndexSetup()
	var x keyIndex
	for p, k := range keys {
		x.insert(k, uint32(p))
	}
	keyAt := func(p uint32) uint64 { return keys[p] }
	const batch = 8
	b.ReportAllocs()
	var sum uint32
	for i := 0; b.Loop(); i += batch {
		ks := order[i&(benchIndexKeys-1):][:batch]
		for _, k := range ks {
			x.prefetchBucket(k)
		}
		for _, k := range ks {
			if p, ok := x.peek(k); ok && int(p) < len(keys) {
				prefetch.Lines(unsafe.Pointer(&keys[p]), 0)
			}
		}
		for _, k := range ks {
			p, ok := x.find(k, keyAt)
			if !ok {
				b.Fatal("key not found")
			}
			sum += p
		}
	}
	benchIndexSink = sum
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/key")
}

func BenchmarkKeyIndexFindGoMap(b *testing.B) {
	keys, order := benchIndexSetup()
	m := make(map[uint64]uint32, len(keys))
	for p, k := range keys {
		m[k] = uint32(p)
	}
	b.ReportAllocs()
	var sum uint32
	for i := 0; b.Loop(); i++ {
		p, ok := m[order[i&(benchIndexKeys-1)]]
		if !ok {
			b.Fatal("key not found")
		}
		sum += p
	}
	benchIndexSink = sum
}
