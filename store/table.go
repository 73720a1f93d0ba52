package store

import (
	"math"
	"math/rand/v2"
	"sync"
	"unsafe"
)

// factsRecord is what a table needs of its record type R: a header (key, last event) and its initial state.
type factsRecord[R any] interface {
	keyedRecord[R]
	header() *factsHeader
	init(mn int32, ix [NumWindows]int32)
	appendBody(b []byte) []byte
	decodeBody(b []byte)
}

func (h *factsHeader) recordKey() uint64 { return h.key }

// table holds one fixed-size record per key, bounded and evicted as Velocity is: sharded shelves whose lasts
// hold each record's last event minute. Safe for concurrent use through lock and unlock.
type table[R any, P factsRecord[R]] struct {
	shards []tableShard[R, P]
	shift  uint
}

type tableShard[R any, P factsRecord[R]] struct {
	tableShardState[R, P]
	_ [128 - 88]byte // keeps neighbouring shards' locks off one cache line pair
}

type tableShardState[R any, P factsRecord[R]] struct {
	mu sync.Mutex
	shelf[R, P]
}

// A shard's state must fit the padding above.
const _ = uint(88 - unsafe.Sizeof(tableShardState[addrFacts, *addrFacts]{}))

func newTable[R any, P factsRecord[R]](maxKeys int) *table[R, P] {
	bits, limit := shardLayout(maxKeys)
	t := &table[R, P]{shards: make([]tableShard[R, P], 1<<bits), shift: 64 - bits}
	for i := range t.shards {
		t.shards[i].shelf = newShelf[R, P](limit(i))
	}
	return t
}

func (t *table[R, P]) shard(key uint64) *tableShard[R, P] {
	return &t.shards[(key*0x9E3779B97F4A7C15)>>t.shift]
}

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
	p = s.insert(key)
	r = s.rec(p)
	r.header().key = key
	r.init(mn, ix)
	s.lasts[p] = r.header().last
	return s, p, r, true
}

// prefetchIndex and prefetchRecord implement prefetcher (see Memory.prefetch), without a lock.
func (t *table[R, P]) prefetchIndex(key uint64)  { t.shard(key).prefetchIndex(key) }
func (t *table[R, P]) prefetchRecord(key uint64) { t.shard(key).prefetchRecord(key) }

// unlock records r's last event for eviction and unlocks s.
func (t *table[R, P]) unlock(s *tableShard[R, P], p uint32, r P) {
	if r != nil {
		s.lasts[p] = r.header().last
	}
	s.mu.Unlock()
}

// restore inserts rec unless its key is held.
func (t *table[R, P]) restore(rec P) {
	key := rec.header().key
	s := t.shard(key)
	s.mu.Lock()
	if _, ok := s.find(key); !ok {
		p := s.insert(key)
		*s.rec(p) = *rec
		s.lasts[p] = rec.header().last
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
