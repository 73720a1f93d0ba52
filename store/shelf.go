package store

import (
	"math/rand/v2"
	"sync/atomic"
	"unsafe"

	"github.com/riskd/riskd/internal/prefetch"
)

// keyedRecord is what a shelf needs of its record type R: the key the record belongs to.
type keyedRecord[R any] interface {
	*R
	recordKey() uint64
}

// shelf holds one shard's fixed-size records, at dense positions [0, n) so that eviction can sample them, in
// chunks that are never moved, found through a keyIndex. Each position's last activity sits in a dense array
// too, so that sampling it costs no cache miss per sampled record. The shard's lock guards everything but
// prefetchIndex and prefetchRecord.
//
// A record is larger than the 128 bytes a Go map stores inline, and a map of records would allocate each on its
// own and fill the heap with pointers for the collector to scan; chunks of records hold no pointers. A chunk of
// about 16 KiB (an allocator size class) wastes little, and a growing shard neither copies its records nor
// leaves a half-empty doubled slice behind.
type shelf[R any, P keyedRecord[R]] struct {
	index keyIndex
	// chunks has one slot per chunk the bound may need, made once: the chunks come and go, the slice header
	// never changes, so prefetchRecord can read it without the lock.
	chunks   []atomic.Pointer[R]
	lasts    []int32 // per position: last activity, in the unit the owner chooses
	n, max   uint32  // records in use; bound on n
	room     uint32  // bound on n when eviction is refused (insertKeeping); at least max
	chunkLen uint32
	used     uint32 // chunks allocated: [0, used)
}

// shelfChunkBytes is the size a chunk of records aims at.
const shelfChunkBytes = 16 << 10

// newShelf returns an empty shelf for at most bound records, or room (>= bound) when records refuse to leave
// (insertKeeping).
func newShelf[R any, P keyedRecord[R]](bound, room uint32) shelf[R, P] {
	var zero R
	cl := uint32(max(1, shelfChunkBytes/unsafe.Sizeof(zero)))
	room = max(room, bound)
	return shelf[R, P]{chunks: make([]atomic.Pointer[R], (uint64(room)+uint64(cl)-1)/uint64(cl)), max: bound, room: room, chunkLen: cl}
}

// rec returns the record at position p < n.
func (s *shelf[R, P]) rec(p uint32) P {
	return P(&unsafe.Slice(s.chunks[p/s.chunkLen].Load(), s.chunkLen)[p%s.chunkLen])
}

func (s *shelf[R, P]) keyAt(p uint32) uint64 { return s.rec(p).recordKey() }

// find returns key's position.
func (s *shelf[R, P]) find(key uint64) (uint32, bool) { return s.index.find(key, s.keyAt) }

// get returns key's record, or nil.
func (s *shelf[R, P]) get(key uint64) P {
	if p, ok := s.find(key); ok {
		return s.rec(p)
	}
	return nil
}

// insert gives key (not held) a zeroed record, evicting the least recently active of a few sampled keys when
// the shelf is full, and returns its position. The caller fills the record, its key included, and lasts[p].
func (s *shelf[R, P]) insert(key uint64) uint32 {
	var p uint32
	if s.n < s.max {
		p = s.extend()
	} else {
		p = victim(s.lasts[:s.n])
		s.index.remove(s.keyAt(p), p)
	}
	s.place(key, p)
	return p
}

// keeping is the eviction policy of a record type with a lifecycle of its own (Profiles): it reads a record's
// last activity from the record itself, and whether the record may leave memory now.
type keeping[P any] func(r P) (last int32, evictable bool)

// insertKeeping is insert under the policy keep: the victim is the least recently active (by keep, not lasts)
// of the sampled records that may leave, and when none of them may, the shelf goes over its bound, up to its
// room, where it evicts the least recently active sampled record anyway: running out of memory would lose
// everything. It reports whether a record was evicted.
func (s *shelf[R, P]) insertKeeping(key uint64, keep keeping[P]) (p uint32, evicted bool) {
	switch {
	case s.n < s.max:
		p = s.extend()
	default:
		v, ok := s.victimKeeping(keep, false)
		switch {
		case ok:
			p, evicted = v, true
		case s.n < s.room:
			p = s.extend()
		default:
			p, _ = s.victimKeeping(keep, true)
			evicted = true
		}
	}
	if evicted {
		s.index.remove(s.keyAt(p), p)
	}
	s.place(key, p)
	return p, evicted
}

// victimKeeping picks the least recently active of evictSamples random records that keep lets leave (all of
// them with force).
func (s *shelf[R, P]) victimKeeping(keep keeping[P], force bool) (uint32, bool) {
	if s.n == 0 {
		return 0, false
	}
	best, oldest, found := uint32(0), int32(0), false
	for range evictSamples {
		p := rand.Uint32N(s.n)
		last, ok := keep(s.rec(p))
		if (ok || force) && (!found || last < oldest) {
			best, oldest, found = p, last, true
		}
	}
	return best, found
}

// extend adds a position at the end, allocating its chunk if need be.
func (s *shelf[R, P]) extend() uint32 {
	p := s.n
	if c := p / s.chunkLen; c == s.used {
		s.chunks[c].Store(&make([]R, s.chunkLen)[0])
		s.used++
	}
	s.lasts = append(s.lasts, 0)
	s.n++
	return p
}

// place indexes key at p and zeroes p's record.
func (s *shelf[R, P]) place(key uint64, p uint32) {
	s.index.insert(key, p)
	var zero R
	*s.rec(p) = zero
}

// delete forgets key by moving the last record into its place, so that positions stay dense for sampling. The
// record left behind is zeroed, not only unlinked.
func (s *shelf[R, P]) delete(key uint64) {
	if p, ok := s.find(key); ok {
		s.deleteAt(p)
	}
}

// deleteAt forgets the record at position p < n, as delete does.
func (s *shelf[R, P]) deleteAt(p uint32) {
	s.index.remove(s.keyAt(p), p)
	last := s.n - 1
	if p != last {
		moved := s.rec(last)
		*s.rec(p) = *moved
		s.index.move(moved.recordKey(), last, p)
		s.lasts[p] = s.lasts[last]
	}
	var zero R
	*s.rec(last) = zero
	s.lasts = s.lasts[:last]
	s.n = last
	// Give back a chunk once two are empty; keeping one spare avoids churn when keys come and go at a boundary.
	if need := (s.n + s.chunkLen - 1) / s.chunkLen; s.used >= need+2 {
		s.used--
		s.chunks[s.used].Store(nil)
	}
}

// prefetchIndex starts loading key's index bucket into the CPU's caches; prefetchRecord, called after it,
// starts loading key's record. A decision calls the first for all its keys, then the second: the misses of each
// round overlap. Both run without the shard's lock; what they read may be changing, which at worst prefetches
// the wrong line.
func (s *shelf[R, P]) prefetchIndex(key uint64) { s.index.prefetchBucket(key) }

func (s *shelf[R, P]) prefetchRecord(key uint64) {
	p, ok := s.index.peek(key)
	if !ok || p/s.chunkLen >= uint32(len(s.chunks)) {
		return
	}
	if c := s.chunks[p/s.chunkLen].Load(); c != nil {
		var zero R
		prefetch.Lines(unsafe.Add(unsafe.Pointer(c), uintptr(p%s.chunkLen)*unsafe.Sizeof(zero)), unsafe.Sizeof(zero))
	}
}
