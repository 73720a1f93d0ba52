package store

import (
	"math"
	"math/rand/v2"
	"sync"
	"unsafe"

	"github.com/riskd/riskd/internal/prefetch"
)

// factsRecord is what a table needs of its record type R: a header (key, last event) and its initial state.
type factsRecord[R any] interface {
	*R
	header() *factsHeader
	init(mn int32, ix [NumWindows]int32)
	appendBody(b []byte) []byte
	decodeBody(b []byte)
}

// table holds one fixed-size record per key, bounded and evicted as Velocity is: sharded maps from key to a
// position in pointer-free chunks of records, and a dense array of each position's last event minute that
// eviction samples (the least recently active of evictSamples random records makes room). Safe for concurrent
// use through lock and unlock.
type table[R any, P factsRecord[R]] struct {
	shards   []tableShard[R]
	shift    uint
	chunkLen uint32
}

type tableShard[R any] struct {
	tableShardState[R]
	_ [128 - 72]byte // keeps neighbouring shards' locks off one cache line pair
}

type tableShardState[R any] struct {
	mu     sync.Mutex
	index  map[uint64]uint32
	chunks [][]R
	lasts  []int32
	n, max uint32
}

// A shard's state must fit the padding above.
const _ = uint(72 - unsafe.Sizeof(tableShardState[addrFacts]{}))

func newTable[R any, P factsRecord[R]](maxKeys int) *table[R, P] {
	bits, limit := shardLayout(maxKeys)
	var zero R
	// Chunks of about 16 KiB, an allocator size class, as Velocity's.
	t := &table[R, P]{shards: make([]tableShard[R], 1<<bits), shift: 64 - bits,
		chunkLen: uint32(max(1, (16<<10)/unsafe.Sizeof(zero)))}
	for i := range t.shards {
		t.shards[i].max = limit(i)
		t.shards[i].index = make(map[uint64]uint32)
	}
	return t
}

func (t *table[R, P]) shard(key uint64) *tableShard[R] {
	return &t.shards[(key*0x9E3779B97F4A7C15)>>t.shift]
}

func (t *table[R, P]) rec(s *tableShard[R], p uint32) P {
	return P(&s.chunks[p/t.chunkLen][p%t.chunkLen])
}

// lock locks key's shard and returns its record and position; with create, a missing key gets a record
// initialised for minute mn (buckets ix), evicting another key from a full shard, and created is true. Without
// create a missing key returns nil. The caller unlocks.
func (t *table[R, P]) lock(key uint64, create bool, mn int32, ix [NumWindows]int32) (s *tableShard[R], p uint32, r P, created bool) {
	s = t.shard(key)
	s.mu.Lock()
	p, ok := s.index[key]
	if ok {
		return s, p, t.rec(s, p), false
	}
	if !create {
		return s, 0, nil, false
	}
	p = t.insert(s, key)
	r = t.rec(s, p)
	r.init(mn, ix)
	s.lasts[p] = r.header().last
	return s, p, r, true
}

// prefetch starts loading key's record into the CPU's caches (see Velocity.Prefetch).
func (t *table[R, P]) prefetch(key uint64) {
	s := t.shard(key)
	s.mu.Lock()
	if p, ok := s.index[key]; ok {
		var zero R
		prefetch.Lines(unsafe.Pointer(t.rec(s, p)), unsafe.Sizeof(zero))
	}
	s.mu.Unlock()
}

// unlock records r's last event for eviction and unlocks s.
func (t *table[R, P]) unlock(s *tableShard[R], p uint32, r P) {
	if r != nil {
		s.lasts[p] = r.header().last
	}
	s.mu.Unlock()
}

// insert adds a zeroed record for key and returns its position.
func (t *table[R, P]) insert(s *tableShard[R], key uint64) uint32 {
	var p uint32
	if s.n < s.max {
		p = s.n
		if int(p/t.chunkLen) == len(s.chunks) {
			s.chunks = append(s.chunks, make([]R, t.chunkLen))
		}
		s.lasts = append(s.lasts, 0)
		s.n++
	} else {
		p = victim(s.lasts[:s.n])
		delete(s.index, t.rec(s, p).header().key)
	}
	s.index[key] = p
	r := t.rec(s, p)
	var zero R
	*r = zero
	r.header().key = key
	return p
}

// restore inserts rec unless its key is held.
func (t *table[R, P]) restore(rec P) {
	key := rec.header().key
	s := t.shard(key)
	s.mu.Lock()
	if _, ok := s.index[key]; !ok {
		p := t.insert(s, key)
		*t.rec(s, p) = *rec
		s.lasts[p] = rec.header().last
	}
	s.mu.Unlock()
}

// delete forgets key; its record is zeroed, not only unlinked.
func (t *table[R, P]) delete(key uint64) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.index[key]
	if !ok {
		return
	}
	delete(s.index, key)
	last := s.n - 1
	if p != last {
		moved := t.rec(s, last)
		*t.rec(s, p) = *moved
		s.index[moved.header().key] = p
		s.lasts[p] = s.lasts[last]
	}
	var zero R
	*t.rec(s, last) = zero
	s.lasts = s.lasts[:last]
	s.n = last
	if used := int((s.n + t.chunkLen - 1) / t.chunkLen); len(s.chunks) >= used+2 {
		s.chunks[len(s.chunks)-1] = nil
		s.chunks = s.chunks[:len(s.chunks)-1]
	}
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
