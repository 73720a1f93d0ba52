package store

import (
	"math/rand/v2"
	"sync/atomic"
	"unsafe"

	"github.com/riskd/riskd/internal/prefetch"
)

// keyIndex maps the keys of one shard to the positions of their records: open addressing over buckets of one
// cache line each (seven entries and an overflow count), doubled when between 1/2 and 5/8 full.
//
// It is not a Go map because a decision reads a dozen records in a dozen tables, and a map lookup is a cache
// miss that the next lookup waits for. Here a key's bucket follows from the key alone, so a decision announces
// all its buckets, then all its records, to the CPU before it reads any (prefetchBucket, peek), and their misses
// overlap. Those two run without the shard's lock: entries are written with atomic stores under the lock and
// read with atomic loads, and a growing index is replaced whole, never changed in place.
//
// Each index doubles at a load drawn between 1/2 and 5/8: keys are uniform hashes, so the 128 shards of a
// table fill alike, and with one fixed bound they would all double (rehash and allocate) within the same
// moment, a pause of tens of milliseconds on a single core during a campaign that brings new users.
//
// Deleting leaves no tombstone: every bucket counts the entries that were placed beyond it because it was
// full, and a lookup stops at the first bucket without such entries.
type keyIndex struct {
	t     atomic.Pointer[indexTable]
	n     uint32 // entries held
	limit uint32 // entries t may hold before it doubles
}

type indexTable struct {
	buckets []indexBucket
	mask    uint32 // len(buckets)-1, a power of two minus one
}

const bucketEntries = 7

// indexBucket is one cache line.
type indexBucket struct {
	// entries are 0 when free, else tag<<32 | position+1.
	entries [bucketEntries]atomic.Uint64
	// overflow counts the entries placed beyond this bucket because it was full when they came.
	overflow atomic.Uint64
}

const _ = uint(prefetch.LineSize - unsafe.Sizeof(indexBucket{})) // one bucket must fit a cache line

// keyTag is bits 25-56 of the key's multiplicative hash: the shards take the top bits of the same product, so a
// shard's keys differ in these. Its low bits choose the bucket at every size, so growing needs no key.
func keyTag(key uint64) uint32 { return uint32((key * 0x9E3779B97F4A7C15) >> 25) }

func entryOf(tag, p uint32) uint64 { return uint64(tag)<<32 | uint64(p+1) }

// find returns key's position; keyAt(p) reads the key of the record at p, to tell keys apart whose tags agree.
func (x *keyIndex) find(key uint64, keyAt func(p uint32) uint64) (uint32, bool) {
	t := x.t.Load()
	if t == nil {
		return 0, false
	}
	tag := keyTag(key)
	for b, n := tag&t.mask, uint32(0); n <= t.mask; b, n = (b+1)&t.mask, n+1 {
		bk := &t.buckets[b]
		for i := range bk.entries {
			if e := bk.entries[i].Load(); e != 0 && uint32(e>>32) == tag {
				if p := uint32(e) - 1; keyAt(p) == key {
					return p, true
				}
			}
		}
		if bk.overflow.Load() == 0 {
			break
		}
	}
	return 0, false
}

// insert adds key (not held) at position p. The caller holds the shard's lock.
func (x *keyIndex) insert(key uint64, p uint32) {
	t := x.t.Load()
	if t == nil || x.n+1 > x.limit {
		t = x.grow(t)
	}
	t.place(entryOf(keyTag(key), p))
	x.n++
}

// place stores e in the first bucket with a free entry from e's home bucket on, counting it in the overflow of
// every full bucket it passes.
func (t *indexTable) place(e uint64) {
	for b := uint32(e>>32) & t.mask; ; b = (b + 1) & t.mask {
		bk := &t.buckets[b]
		for i := range bk.entries {
			if bk.entries[i].Load() == 0 {
				bk.entries[i].Store(e)
				return
			}
		}
		bk.overflow.Add(1)
	}
}

// grow replaces t by a table twice its size (two buckets when there is none) holding the same entries.
func (x *keyIndex) grow(t *indexTable) *indexTable {
	size := 2
	if t != nil {
		size = 2 * len(t.buckets)
	}
	nt := &indexTable{buckets: make([]indexBucket, size), mask: uint32(size - 1)}
	if t != nil {
		for b := range t.buckets {
			for i := range t.buckets[b].entries {
				if e := t.buckets[b].entries[i].Load(); e != 0 {
					nt.place(e)
				}
			}
		}
	}
	x.t.Store(nt)
	slots := uint32(size) * bucketEntries
	x.limit = slots*5/8 - rand.Uint32N(slots/8+1)
	return nt
}

// remove drops key's entry, which points at p. The caller holds the shard's lock. An entry is known by its tag
// and position only, so key must be the one held at p (as the shelf guarantees: it has just found it there).
func (x *keyIndex) remove(key uint64, p uint32) {
	if t := x.t.Load(); t != nil && t.update(entryOf(keyTag(key), p), 0) {
		x.n--
	}
}

// move points key's entry at to instead of from. The caller holds the shard's lock.
func (x *keyIndex) move(key uint64, from, to uint32) {
	tag := keyTag(key)
	if t := x.t.Load(); t != nil {
		t.update(entryOf(tag, from), entryOf(tag, to))
	}
}

// update replaces the entry old by e (0: removes it, and uncounts it from the overflow of the buckets before
// it) and reports whether old was there.
func (t *indexTable) update(old, e uint64) bool {
	home := uint32(old>>32) & t.mask
	for b, n := home, uint32(0); n <= t.mask; b, n = (b+1)&t.mask, n+1 {
		bk := &t.buckets[b]
		for i := range bk.entries {
			if bk.entries[i].Load() != old {
				continue
			}
			bk.entries[i].Store(e)
			if e == 0 {
				for c := home; c != b; c = (c + 1) & t.mask {
					t.buckets[c].overflow.Add(^uint64(0))
				}
			}
			return true
		}
		if bk.overflow.Load() == 0 {
			break
		}
	}
	return false
}

// prefetchBucket starts loading key's home bucket into the CPU's caches. Safe without the shard's lock.
func (x *keyIndex) prefetchBucket(key uint64) {
	if t := x.t.Load(); t != nil {
		prefetch.Lines(unsafe.Pointer(&t.buckets[keyTag(key)&t.mask]), 0)
	}
}

// peek returns the position of the first entry whose tag is key's, without comparing keys: a guess at where
// key's record is, good enough to prefetch it. Safe without the shard's lock, when it may miss an entry being
// moved. It repeats find's scan rather than calling find with a keyAt that accepts any key: the indirect call
// per entry made a decision at 100,000 users 4.7-5.0 -> 5.1 us.
func (x *keyIndex) peek(key uint64) (uint32, bool) {
	t := x.t.Load()
	if t == nil {
		return 0, false
	}
	tag := keyTag(key)
	for b, n := tag&t.mask, uint32(0); n <= t.mask; b, n = (b+1)&t.mask, n+1 {
		bk := &t.buckets[b]
		for i := range bk.entries {
			if e := bk.entries[i].Load(); e != 0 && uint32(e>>32) == tag {
				return uint32(e) - 1, true
			}
		}
		if bk.overflow.Load() == 0 {
			break
		}
	}
	return 0, false
}
