package store

import (
	"math"
	"sync"
	"unsafe"
)

// record is what a table needs of its record type R: what a shelf needs, and to set its key.
type record[R any] interface {
	keyedRecord[R]
	setKey(key uint64)
}

// snapshotRecord is a record of fixed size that a snapshot holds: its bytes after the key (snapshot.go).
type snapshotRecord[R any] interface {
	record[R]
	appendBody(b []byte) []byte
	decodeBody(b []byte)
}

// table holds one fixed-size record per key, for subjects and profiles alike: sharded shelves
// (shelf.go), bounded, where a new key in a full shard evicts the least recently active of a few sampled keys;
// records are found through a key index that a decision prefetches (keyindex.go), and copied out block by
// block for a snapshot (snapshot.go). Safe for concurrent use through its shards' locks.
//
// A record type with a lifecycle of its own says so through the shelf's insertKeeping and its policy (keeping):
// the records it keeps (profiles whose change the disk does not hold yet) are passed over by eviction. It keeps any state of its own
// per shard beside the table, indexed by shardIndex and guarded by the same lock (Profiles).
//
// A record type's own operations (counting, reading facts) lock the key's shard, find the record and work on it
// (kindTable, Profiles).
type table[R any, P record[R]] struct {
	shards []tableShard[R, P]
	shift  uint
	name   string // in errors: the kind of subject, "profiles"
}

type tableShard[R any, P record[R]] struct {
	tableShardState[R, P]
	_ [128 - 112]byte // keeps neighbouring shards' locks off one cache line pair
}

type tableShardState[R any, P record[R]] struct {
	mu sync.Mutex
	shelf[R, P]
}

// A shard's state must fit the padding above; it holds no R, so one instantiation checks them all.
const _ = uint(112 - unsafe.Sizeof(tableShardState[profileRecord, *profileRecord]{}))

// makeTable returns an empty table for at most maxKeys keys (DefaultVelocityKeys when <= 0); where records
// refuse to leave (insertKeeping), it holds up to room times as many.
func makeTable[R any, P record[R]](maxKeys int, room uint32, name string) table[R, P] {
	bits, limit := shardLayout(maxKeys)
	t := table[R, P]{shards: make([]tableShard[R, P], 1<<bits), shift: 64 - bits, name: name}
	var arena *chunkArena
	if unsafe.Sizeof(*new(R)) <= shelfChunkBytes {
		arena = newChunkArena()
	}
	for i := range t.shards {
		n := limit(i)
		t.shards[i].shelf = newShelf[R, P](n, uint32(min(uint64(n)*uint64(max(room, 1)), math.MaxInt32)))
		t.shards[i].arena = arena
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

// prefetchIndex and prefetchRecord implement prefetcher (see Memory.prefetch), without a lock.
func (t *table[R, P]) prefetchIndex(key uint64)  { t.shard(key).prefetchIndex(key) }
func (t *table[R, P]) prefetchRecord(key uint64) { t.shard(key).prefetchRecord(key) }

// restore gives key a record filled by decode, unless it holds one; with merge, decode fills the one it holds
// too: a snapshot of an earlier version holds a subject's rings and facts in two tables, read one after the other.
func (t *table[R, P]) restore(key uint64, merge bool, decode func(P)) {
	s := t.shard(key)
	s.mu.Lock()
	p, ok := s.find(key)
	if !ok {
		p = s.insert(key)
		s.rec(p).setKey(key)
	}
	if !ok || merge {
		decode(s.rec(p))
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
