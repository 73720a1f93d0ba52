package store

import (
	"math"
	"math/rand/v2"
	"sync"
	"unsafe"
)

// record is what a table needs of its record type R: its key, its last activity (in the unit its table
// evicts by) and its initial state.
type record[R any] interface {
	keyedRecord[R]
	setKey(key uint64)
	lastActive() int32
	// init sets up a new record for an event at minute mn, whose buckets are ix.
	init(mn int32, ix [NumWindows]int32)
}

// snapshotRecord is a record of fixed size that a snapshot holds: its bytes after the key (snapshot.go).
type snapshotRecord[R any] interface {
	record[R]
	appendBody(b []byte) []byte
	decodeBody(b []byte)
}

// table holds one fixed-size record per key, for velocity counters, facts and profiles alike: sharded shelves
// (shelf.go), bounded, where a new key in a full shard evicts the least recently active of a few sampled keys;
// records are found through a key index that a decision prefetches (keyindex.go), and copied out block by
// block for a snapshot (snapshot.go). Safe for concurrent use through its shards' locks.
//
// A record type with a lifecycle of its own says so through the shelf's insertKeeping and its policy (keeping):
// the records it keeps (profiles whose change the disk does not hold yet) are passed over by eviction. It keeps any state of its own
// per shard beside the table, indexed by shardIndex and guarded by the same lock (Profiles).
//
// A record type's own operations (counting, reading facts) work on the record the shard holds, locked:
// lock/unlock for those that go through the generic record interface, shard/find/create/touched for the hot
// paths that call the record's methods directly (Velocity), which a generic call would reach through the
// instantiation's dictionary.
type table[R any, P record[R]] struct {
	shards []tableShard[R, P]
	shift  uint
	name   string // in errors: "velocity", "facts", "profiles"
}

type tableShard[R any, P record[R]] struct {
	tableShardState[R, P]
	_ [128 - 96]byte // keeps neighbouring shards' locks off one cache line pair
}

type tableShardState[R any, P record[R]] struct {
	mu sync.Mutex
	shelf[R, P]
}

// A shard's state must fit the padding above; it holds no R, so one instantiation checks them all.
const _ = uint(96 - unsafe.Sizeof(tableShardState[addrFacts, *addrFacts]{}))

// makeTable returns an empty table for at most maxKeys keys (DefaultVelocityKeys when <= 0); where records
// refuse to leave (insertKeeping), it holds up to room times as many.
func makeTable[R any, P record[R]](maxKeys int, room uint32, name string) table[R, P] {
	bits, limit := shardLayout(maxKeys)
	t := table[R, P]{shards: make([]tableShard[R, P], 1<<bits), shift: 64 - bits, name: name}
	for i := range t.shards {
		n := limit(i)
		t.shards[i].shelf = newShelf[R, P](n, uint32(min(uint64(n)*uint64(max(room, 1)), math.MaxInt32)))
	}
	return t
}

func newTable[R any, P record[R]](maxKeys int, name string) *table[R, P] {
	t := makeTable[R, P](maxKeys, 1, name)
	return &t
}

// shard is key's shard. Keys are already hashes, but the multiply keeps a poorly mixed key from piling into
// one shard.
func (t *table[R, P]) shard(key uint64) *tableShard[R, P] {
	return &t.shards[t.shardIndex(key)]
}

func (t *table[R, P]) shardIndex(key uint64) uint64 { return (key * 0x9E3779B97F4A7C15) >> t.shift }

// create gives key, not held by the locked shard s, a record initialised for minute mn (buckets ix), evicting
// another key from a full shard, and returns its position.
func (s *tableShard[R, P]) create(key uint64, mn int32, ix *[NumWindows]int32) uint32 {
	p := s.insert(key)
	r := s.rec(p)
	r.setKey(key)
	r.init(mn, *ix) // by value: a pointer passed through the instantiation's dictionary would escape
	s.lasts[p] = r.lastActive()
	return p
}

// touched records last as the last activity of the record at p, for eviction. A caller that knows the
// activity did not change skips it: lasts is a line of its own, which a read need not bring into the caches.
func (s *tableShard[R, P]) touched(p uint32, last int32) { s.lasts[p] = last }

// lock locks key's shard and returns its record and position; with create, a missing key gets a record
// initialised for minute mn (buckets ix), evicting another key from a full shard, and created is true. Without
// create a missing key returns nil. The caller unlocks.
func (t *table[R, P]) lock(key uint64, create bool, mn int32, ix [NumWindows]int32) (s *tableShard[R, P], p uint32, r P, created bool) {
	s = t.shard(key)
	s.mu.Lock()
	p, ok := s.find(key)
	if ok {
		return s, p, s.rec(p), false
	}
	if !create {
		return s, 0, nil, false
	}
	p = s.create(key, mn, &ix)
	return s, p, s.rec(p), true
}

// prefetchIndex and prefetchRecord implement prefetcher (see Memory.prefetch), without a lock.
func (t *table[R, P]) prefetchIndex(key uint64)  { t.shard(key).prefetchIndex(key) }
func (t *table[R, P]) prefetchRecord(key uint64) { t.shard(key).prefetchRecord(key) }

// unlock records r's last activity for eviction and unlocks s.
func (t *table[R, P]) unlock(s *tableShard[R, P], p uint32, r P) {
	if r != nil {
		s.lasts[p] = r.lastActive()
	}
	s.mu.Unlock()
}

// restore inserts rec unless its key is held.
func (t *table[R, P]) restore(rec P) {
	key := rec.recordKey()
	s := t.shard(key)
	s.mu.Lock()
	if _, ok := s.find(key); !ok {
		p := s.insert(key)
		*s.rec(p) = *rec
		s.lasts[p] = rec.lastActive()
	}
	s.mu.Unlock()
}

// delete forgets key; its record is zeroed, not only unlinked.
func (t *table[R, P]) delete(key uint64) {
	s := t.shard(key)
	s.mu.Lock()
	s.shelf.delete(key)
	s.mu.Unlock()
}

// Len is the number of keys held.
func (t *table[R, P]) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += int(s.n)
		s.mu.Unlock()
	}
	return n
}

// shardLayout splits maxKeys (DefaultVelocityKeys when <= 0) over 2^bits shards, each keeping at least
// minShardKeys so that sampled eviction has a choice; limit(i) is shard i's bound, and the bounds add up to
// exactly maxKeys.
func shardLayout(maxKeys int) (bits uint, limit func(i int) uint32) {
	if maxKeys <= 0 {
		maxKeys = DefaultVelocityKeys
	}
	bits = maxShardBits
	for bits > 0 && maxKeys>>bits < minShardKeys {
		bits--
	}
	per, extra := maxKeys>>bits, maxKeys&(1<<bits-1)
	return bits, func(i int) uint32 {
		n := per
		if i < extra {
			n++
		}
		return uint32(min(n, math.MaxInt32))
	}
}

// victim picks the position to evict among lasts: the least recently active of evictSamples random ones.
func victim(lasts []int32) uint32 {
	n := uint32(len(lasts))
	best := rand.Uint32N(n)
	oldest := lasts[best]
	for range evictSamples - 1 {
		p := rand.Uint32N(n)
		if t := lasts[p]; t < oldest {
			best, oldest = p, t
		}
	}
	return best
}
