package store

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/riskd/riskd/internal/prefetch"
)

// keyedRecord is what a shelf needs of its record type R: the key the record belongs to, and its last
// activity (in the unit its table evicts by).
type keyedRecord[R any] interface {
	*R
	recordKey() uint64
	lastActive() int32
}

// shelf holds one shard's fixed-size records, at dense positions [0, n) so that eviction can sample them, in
// chunks that are never moved, found through a keyIndex. The shard's lock guards everything but
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
	n, max   uint32 // records in use; bound on n
	room     uint32 // bound on n when eviction is refused (insertKeeping); at least max
	chunkLen uint32
	stride   uint32      // bytes from one record to the next in a chunk (recordStride)
	used     uint32      // chunks allocated: [0, used)
	arena    *chunkArena // where chunks come from; nil: each is allocated on its own
}

// shelfChunkBytes is the size a chunk of records aims at.
const shelfChunkBytes = 16 << 10

// newShelf returns an empty shelf for at most bound records, or room (>= bound) when records refuse to leave
// (insertKeeping).
func newShelf[R any, P keyedRecord[R]](bound, room uint32) shelf[R, P] {
	stride := recordStride[R]()
	cl := uint32(max(1, shelfChunkBytes/stride))
	room = max(room, bound)
	return shelf[R, P]{chunks: make([]atomic.Pointer[R], (uint64(room)+uint64(cl)-1)/uint64(cl)), max: bound, room: room,
		chunkLen: cl, stride: uint32(stride)}
}

// recordStride is the room a record of type R takes in a chunk: in the chunks of an arena (records up to a
// chunk), its size rounded up to whole cache lines. Chunks start on a cache line (arena chunks are 16 KiB
// apart in a slab, or allocations of a 16 KiB size class), so every record then starts one and spans no more
// lines than its size needs: a user's 360 bytes are 6 lines, where packed they spread over 7 for most
// positions, and the 824 bytes of a profile 13 instead of mostly 14. A decision reads each record whole, and
// every line is one more miss to wait for or to prefetch. Larger records, each a chunk of its own, are
// packed.
func recordStride[R any]() uintptr {
	size := unsafe.Sizeof(*new(R))
	if size > shelfChunkBytes {
		return size
	}
	return (size + prefetch.LineSize - 1) &^ (prefetch.LineSize - 1)
}

// rec returns the record at position p < n.
func (s *shelf[R, P]) rec(p uint32) P {
	return P(unsafe.Add(unsafe.Pointer(s.chunks[p/s.chunkLen].Load()), uintptr(p%s.chunkLen)*uintptr(s.stride)))
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
// the shelf is full, and returns its position. The caller fills the record, its key included.
func (s *shelf[R, P]) insert(key uint64) uint32 {
	p, _ := s.insertKeeping(key, nil)
	return p
}

// keeping is the eviction policy of a record type with a lifecycle of its own (Profiles): it reads a record's
// last activity, and whether the record may leave memory now. Without one (nil), every record may leave and
// its last activity is its lastActive.
type keeping[P any] func(r P) (last int32, evictable bool)

// insertKeeping is insert under the policy keep: the victim is the least recently active of the sampled
// records that may leave, and when none of them may, the shelf goes over its bound, up to its
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
// them with force). The samples' lines are requested all at once before any is read: their misses overlap.
// Reading the last activity in the record, rather than in an array of its own beside the records, costs an
// eviction those misses and spares every decision the write of a line of that array per subject.
func (s *shelf[R, P]) victimKeeping(keep keeping[P], force bool) (uint32, bool) {
	if s.n == 0 {
		return 0, false
	}
	var sample [evictSamples]uint32
	for i := range sample {
		sample[i] = rand.Uint32N(s.n)
		prefetch.Lines(unsafe.Pointer(s.rec(sample[i])), 0)
	}
	best, oldest, found := uint32(0), int32(0), false
	for _, p := range sample {
		last, ok := s.rec(p).lastActive(), true
		if keep != nil {
			last, ok = keep(s.rec(p))
		}
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
		if s.arena != nil {
			s.chunks[c].Store((*R)(s.arena.get()))
		} else {
			// Records as many as cover chunkLen strides: the padding between records holds none.
			size := unsafe.Sizeof(*new(R))
			s.chunks[c].Store(&make([]R, (uintptr(s.chunkLen)*uintptr(s.stride)+size-1)/size)[0])
		}
		s.used++
	}
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
	}
	var zero R
	*s.rec(last) = zero
	s.n = last
	// Give back a chunk once two are empty; keeping one spare avoids churn when keys come and go at a boundary.
	if need := (s.n + s.chunkLen - 1) / s.chunkLen; s.used >= need+2 {
		s.used--
		if c := s.chunks[s.used].Swap(nil); s.arena != nil {
			s.arena.put(unsafe.Pointer(c))
		}
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
		prefetch.Lines(unsafe.Add(unsafe.Pointer(c), uintptr(p%s.chunkLen)*uintptr(s.stride)), unsafe.Sizeof(*new(R)))
	}
}

// chunkArena gives the shelves of a table their chunks, carved from slabs of slabBytes mapped fresh and
// untouched, advised for transparent huge pages (adviseHugePages) before a chunk of them is used. A decision reads half a dozen records scattered over gigabytes of state at a
// million users; in 4 KiB pages each read also misses the TLB and walks page tables that are themselves out of
// the caches, while 2 MiB pages cover the records of a whole table with a few hundred TLB entries. A table's
// first chunks are allocated one by one, so that a small table takes no slab. Chunks given back are kept for
// reuse, so a table's memory stays at its peak, which its bound bounds.
//
// Slabs are mapped outside the Go heap (newSlab) where the system allows: the collector paces itself on the
// live heap, and with gigabytes of state in it (which it never needs to scan: records hold no pointers) it let
// garbage pile up to the size of the state before collecting, so a process settled near twice its state and
// its memory grew for minutes under steady load. The slabs are unmapped when the arena is collected, i.e. when
// nothing uses its table any more. Safe for concurrent use.
type chunkArena struct {
	mu     sync.Mutex
	slab   []byte // the slab chunks are carved from, from next on
	next   int
	free   []unsafe.Pointer // chunks given back, zeroed
	alone  int              // chunks allocated one by one
	mapped *mappedSlabs
}

// mappedSlabs are the slabs an arena mapped outside the Go heap, unmapped by the arena's cleanup.
type mappedSlabs struct{ list [][]byte }

func (m *mappedSlabs) unmap() {
	for _, b := range m.list {
		freeSlab(b)
	}
}

func newChunkArena() *chunkArena {
	a := &chunkArena{mapped: &mappedSlabs{}}
	runtime.AddCleanup(a, (*mappedSlabs).unmap, a.mapped)
	return a
}

const (
	slabBytes = 8 << 20
	// aloneChunks are allocated one by one before the first slab: 1 MiB.
	aloneChunks = 64
)

// get returns a zeroed chunk of shelfChunkBytes.
func (a *chunkArena) get() unsafe.Pointer {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.free); n > 0 {
		c := a.free[n-1]
		a.free = a.free[:n-1]
		return c
	}
	if a.alone < aloneChunks {
		a.alone++
		return unsafe.Pointer(&make([]byte, shelfChunkBytes)[0])
	}
	if a.next+shelfChunkBytes > len(a.slab) {
		slab, mapped := newSlab(slabBytes)
		if mapped {
			a.mapped.list = append(a.mapped.list, slab)
		}
		a.slab, a.next = slab, 0
		adviseHugePages(a.slab)
	}
	c := unsafe.Pointer(&a.slab[a.next])
	a.next += shelfChunkBytes
	return c
}

// put takes back a chunk whose records are all zero.
func (a *chunkArena) put(c unsafe.Pointer) {
	a.mu.Lock()
	a.free = append(a.free, c)
	a.mu.Unlock()
}
