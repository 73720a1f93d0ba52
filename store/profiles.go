package store

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/riskd/riskd/internal/prefetch"
)

// DefaultProfiles is the bound on profiles held in memory that NewProfiles uses: about 780 MB at the ~780 bytes
// a profile costs, table included (TestProfileBytesPerUser).
const DefaultProfiles = 1_000_000

// Profiles is the in-memory table of user profiles. Safe for concurrent use.
//
// The table is bounded: a new profile in a full shard evicts the least recently used of evictSamples random
// profiles (as Velocity does), so a spray of new users evicts cold profiles, never the table. Without a store
// behind the table (SetLoader), an evicted user is forgotten and looks new again. With one, only profiles that
// the store already holds are evicted (a profile with a change not yet committed stays), and a miss reads the
// store and puts the profile back.
//
// With tracking on (Track), the table remembers which keys changed since the last Drain, so that a writer can
// copy them out and persist them off the request path: marking a key costs a flag and, the first time, an append
// to a slice the writer empties, never I/O.
type Profiles struct {
	shards [profileShards]profileShard
	track  bool
	notify chan struct{} // non-blocking signal to the writer that something changed; nil = none
	// load reads a profile from the store behind the table, reporting whether it holds one; nil = no store.
	load func(key uint64, out *Profile) bool
	// spilled: some profile may be in the store and not in memory, so a miss must ask the store.
	spilled   atomic.Bool
	drained   atomic.Uint64 // generation of the last Drain; only the writer changes it
	committed atomic.Uint64 // generation of the last Drain whose changes are durable
}

const profileShards = 64

// pendingGen marks a tombstone whose deletion has not been drained yet.
const pendingGen = math.MaxUint64

type profileShard struct {
	profileShardState
	_ [128 - unsafe.Sizeof(profileShardState{})%128]byte // keeps neighbouring shards' locks apart
}

type profileShardState struct {
	mu    sync.Mutex
	index keyIndex      // key -> position in slots
	slots []profileSlot // dense, for sampling: slots[e.pos] describes e
	dirty []uint64      // keys changed or deleted since the last Drain; a key may appear more than once
	// gone holds, with tracking on, the keys deleted in memory whose deletion is not yet durable, with the
	// generation of the Drain that took it (pendingGen: not yet drained): the store still has them, and a miss
	// must not read them back.
	gone  map[uint64]uint64
	max   int    // bound on len(m)
	tick  uint64 // use clock: bumped at every use of a profile
	epoch uint64 // bumped whenever a profile leaves memory; a load that saw another epoch reads again
}

// profileSlot is what eviction samples, kept apart from the profile so that sampling reads one dense array.
type profileSlot struct {
	key  uint64
	tick uint64 // last use
	gen  uint64 // Drain generation that last took the profile; evictable once committed
	e    *profileEntry
}

// profileEntry is a profile and whether it changed since it was last drained. A 680-byte entry fits the
// 704-byte allocation size class.
type profileEntry struct {
	p     Profile
	pos   uint32 // index in the shard's slots
	dirty bool
}

// Change is a profile to persist: its value when it was drained, or its deletion.
type Change struct {
	Key     uint64
	Deleted bool
	Profile Profile
}

// NewProfiles returns an empty table holding at most DefaultProfiles profiles.
func NewProfiles() *Profiles { return NewBoundedProfiles(DefaultProfiles) }

// NewBoundedProfiles returns an empty table holding at most maxProfiles profiles (DefaultProfiles when <= 0;
// at least evictSamples per shard).
func NewBoundedProfiles(maxProfiles int) *Profiles {
	if maxProfiles <= 0 {
		maxProfiles = DefaultProfiles
	}
	p := &Profiles{}
	per, extra := maxProfiles/profileShards, maxProfiles%profileShards
	for i := range p.shards {
		s := &p.shards[i]
		s.gone = make(map[uint64]uint64)
		s.max = per
		if i < extra {
			s.max++ // the shard bounds add up to exactly maxProfiles
		}
		s.max = max(s.max, evictSamples)
	}
	return p
}

// Track turns on change tracking for Drain; notify, if not nil, gets a non-blocking send on every change. Call it
// before the table is shared.
func (p *Profiles) Track(notify chan struct{}) {
	p.track = true
	p.notify = notify
}

// SetLoader makes the table the memory of a store: load reads a profile the store holds (without any of the
// table's locks held) and reports whether there is one. From then on, a profile leaves memory only once the store
// holds its last change (tracking must be on), and a miss asks load. Call it before the table is shared.
func (p *Profiles) SetLoader(load func(key uint64, out *Profile) bool) { p.load = load }

// Spilled reports whether profiles may be held by the store and not in memory.
func (p *Profiles) Spilled() bool { return p.spilled.Load() }

func (p *Profiles) shard(key uint64) *profileShard {
	return &p.shards[key%profileShards]
}

// markLocked records that key changed; s is locked and e is key's entry, or nil when the key was deleted.
func (p *Profiles) markLocked(s *profileShard, key uint64, e *profileEntry) {
	if !p.track {
		return
	}
	if e != nil {
		if e.dirty {
			return
		}
		e.dirty = true
	} else {
		s.gone[key] = pendingGen
	}
	s.dirty = append(s.dirty, key)
	if p.notify != nil {
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
}

// lookupLocked returns key's entry in memory, or nil.
func (s *profileShard) lookupLocked(key uint64) *profileEntry {
	if p, ok := s.index.find(key, s.slotKey); ok {
		return s.slots[p].e
	}
	return nil
}

func (s *profileShard) slotKey(p uint32) uint64 { return s.slots[p].key }

// touchLocked records a use of e.
func (s *profileShard) touchLocked(e *profileEntry) {
	s.tick++
	s.slots[e.pos].tick = s.tick
}

// entryLocked returns key's entry, or nil. On a miss, with a store behind the table that may hold the key, it
// reads the store with s unlocked and adds what it found; s is locked on entry and on return.
func (p *Profiles) entryLocked(s *profileShard, key uint64) *profileEntry {
	if e := s.lookupLocked(key); e != nil {
		return e
	}
	if p.load == nil || !p.spilled.Load() {
		return nil
	}
	if _, ok := s.gone[key]; ok {
		return nil // deleted; the store may not know yet
	}
	for {
		epoch := s.epoch
		s.mu.Unlock()
		ne := new(profileEntry)
		found := p.load(key, &ne.p)
		s.mu.Lock()
		if e := s.lookupLocked(key); e != nil {
			return e // added meanwhile
		}
		if _, ok := s.gone[key]; ok {
			return nil
		}
		if s.epoch != epoch {
			continue // a profile left memory meanwhile: what was read may predate its last commit
		}
		if !found {
			return nil
		}
		return p.addLocked(s, key, ne)
	}
}

// addLocked adds e (a new empty entry when nil) as key's profile, evicting another profile when the shard is
// full, and returns it. When every sampled profile has a change the store does not hold yet, the shard goes
// over its bound until the next commit (Committed trims it).
func (p *Profiles) addLocked(s *profileShard, key uint64, e *profileEntry) *profileEntry {
	s.tick++
	slot := profileSlot{key: key, tick: s.tick}
	if len(s.slots) >= s.max {
		if v := p.victimLocked(s); v >= 0 {
			old := s.slots[v]
			s.index.remove(old.key, uint32(v))
			s.epoch++
			if p.load != nil {
				p.spilled.Store(true)
			}
			if e == nil {
				e = old.e // reuse the evicted entry: a spray of new users allocates nothing once the table is full
				*e = profileEntry{}
			} else {
				old.e.p = Profile{}
			}
			e.pos = uint32(v)
			slot.e = e
			s.slots[v] = slot
			s.index.insert(key, uint32(v))
			delete(s.gone, key)
			return e
		}
	}
	if e == nil {
		e = new(profileEntry)
	}
	e.pos = uint32(len(s.slots))
	slot.e = e
	s.slots = append(s.slots, slot)
	s.index.insert(key, e.pos)
	delete(s.gone, key) // re-created: its next commit overwrites the deletion, and it cannot leave before that
	return e
}

// victimLocked picks the profile to evict: the least recently used of evictSamples random ones among those
// that may leave memory (with tracking on, those whose last change is committed), or -1 if none may.
func (p *Profiles) victimLocked(s *profileShard) int {
	n := uint32(len(s.slots))
	if n == 0 {
		return -1
	}
	committed := p.committed.Load()
	best := -1
	for range evictSamples {
		i := rand.Uint32N(n)
		sl := &s.slots[i]
		if p.track && (sl.e.dirty || sl.gen > committed) {
			continue
		}
		if best < 0 || sl.tick < s.slots[best].tick {
			best = int(i)
		}
	}
	return best
}

// removeLocked unlinks e, key's entry, and zeroes its value (erasure is a usual reason).
func (s *profileShard) removeLocked(key uint64, e *profileEntry) {
	s.index.remove(key, e.pos)
	last := len(s.slots) - 1
	if int(e.pos) != last {
		moved := s.slots[last]
		s.slots[e.pos] = moved
		moved.e.pos = e.pos
		s.index.move(moved.key, uint32(last), e.pos)
	}
	s.slots[last] = profileSlot{}
	s.slots = s.slots[:last]
	e.p = Profile{}
	s.epoch++
}

// Get copies the profile of key into out and reports whether one exists.
func (p *Profiles) Get(key uint64, out *Profile) bool {
	s := p.shard(key)
	s.mu.Lock()
	e := p.entryLocked(s, key)
	if e != nil {
		s.touchLocked(e)
		*out = e.p
	}
	s.mu.Unlock()
	return e != nil
}

// prefetchIndex and prefetchRecord implement prefetcher (see Memory.prefetch). The second takes the shard's
// lock: a profile is found through its slot, which may move.
func (p *Profiles) prefetchIndex(key uint64) { p.shard(key).index.prefetchBucket(key) }

func (p *Profiles) prefetchRecord(key uint64) {
	s := p.shard(key)
	s.mu.Lock()
	if e := s.lookupLocked(key); e != nil {
		prefetch.Lines(unsafe.Pointer(e), unsafe.Sizeof(*e))
	}
	s.mu.Unlock()
}

// Update applies fn to the profile of key under the table's lock, creating an empty profile first when there is
// none. fn must not block: it runs with the shard locked.
func (p *Profiles) Update(key uint64, fn func(*Profile)) {
	s := p.shard(key)
	s.mu.Lock()
	e := p.entryLocked(s, key)
	if e == nil {
		e = p.addLocked(s, key, nil)
	} else {
		s.touchLocked(e)
	}
	fn(&e.p)
	p.markLocked(s, key, e)
	s.mu.Unlock()
}

// Apply applies op to the profile of key, creating the profile when op creates one.
func (p *Profiles) Apply(key uint64, op ProfileOp) {
	s := p.shard(key)
	s.mu.Lock()
	e := p.entryLocked(s, key)
	if e == nil {
		if !op.Creates() {
			s.mu.Unlock()
			return
		}
		e = p.addLocked(s, key, nil)
	} else {
		s.touchLocked(e)
	}
	e.p.Apply(&op)
	p.markLocked(s, key, e)
	s.mu.Unlock()
}

// Put stores pr as the profile of key, or deletes key when pr is nil. It is how a copy read from another store
// is kept locally; it does not mark the key changed, since the other store already holds it. It is not for a
// table with a loader.
func (p *Profiles) Put(key uint64, pr *Profile) {
	s := p.shard(key)
	s.mu.Lock()
	e := s.lookupLocked(key)
	ok := e != nil
	switch {
	case pr == nil && ok:
		s.removeLocked(key, e)
	case pr == nil:
	case ok:
		e.p = *pr
		s.touchLocked(e)
	default:
		p.addLocked(s, key, nil).p = *pr
	}
	s.mu.Unlock()
}

// Delete forgets the profile of key and reports whether memory held one. The value is zeroed in memory, not
// only unlinked, since erasure is its usual reason. With tracking on, the deletion is drained even when memory
// held no profile, so that it reaches the store.
func (p *Profiles) Delete(key uint64) bool {
	s := p.shard(key)
	s.mu.Lock()
	e := s.lookupLocked(key)
	ok := e != nil
	if ok {
		s.removeLocked(key, e)
	}
	p.markLocked(s, key, nil)
	s.mu.Unlock()
	return ok
}

// Len is the number of profiles held in memory.
func (p *Profiles) Len() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += len(s.slots)
		s.mu.Unlock()
	}
	return n
}

// Expire applies Profile.Expire(cutoff) to every profile in memory, deleting those left empty, and returns how
// many profiles changed. It locks one shard at a time, so requests wait at most for one shard's pass.
func (p *Profiles) Expire(cutoff int64) int {
	changed := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		// Backwards: removing moves the last slot into the hole, and the last has been seen.
		for i := len(s.slots) - 1; i >= 0; i-- {
			k, e := s.slots[i].key, s.slots[i].e
			ch, empty := e.p.Expire(cutoff)
			switch {
			case empty:
				s.removeLocked(k, e)
				p.markLocked(s, k, nil)
			case ch:
				p.markLocked(s, k, e)
			default:
				continue
			}
			changed++
		}
		s.mu.Unlock()
	}
	return changed
}

// expireKey is Expire for one key, loaded from the store if need be, and reports whether it changed. A profile
// loaded only for this is marked least recently used, so that it is the first to leave again.
func (p *Profiles) expireKey(key uint64, cutoff int64) bool {
	s := p.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.lookupLocked(key) != nil
	e := p.entryLocked(s, key)
	if e == nil {
		return false
	}
	if !held {
		s.slots[e.pos].tick = 0
	}
	ch, empty := e.p.Expire(cutoff)
	switch {
	case empty:
		s.removeLocked(key, e)
		p.markLocked(s, key, nil)
	case ch:
		p.markLocked(s, key, e)
	}
	return ch || empty
}

// Drain appends to dst every profile changed since the last Drain, as it is now (or its deletion), clears the
// changed marks and returns the extended slice. The copies are made under each shard's lock; whatever the caller
// then does with them (disk, network) happens without any lock held. Once they are durable, the caller says so
// with Committed.
func (p *Profiles) Drain(dst []Change) []Change {
	gen := p.drained.Add(1)
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for _, k := range s.dirty {
			e := s.lookupLocked(k)
			switch {
			case e == nil:
				if _, t := s.gone[k]; t { // else evicted: the store holds it (a deletion is always a tombstone)
					dst = append(dst, Change{Key: k, Deleted: true})
					s.gone[k] = gen
				}
			case e.dirty:
				e.dirty = false
				s.slots[e.pos].gen = gen
				dst = append(dst, Change{Key: k, Profile: e.p})
			}
		}
		clear(s.dirty)
		s.dirty = s.dirty[:0]
		s.mu.Unlock()
	}
	return dst
}

// Committed says that the changes of the last Drain are durable: the profiles they concern may leave memory,
// and shards over their bound (every sampled profile had an uncommitted change) are brought back under it.
func (p *Profiles) Committed() {
	gen := p.drained.Load()
	p.committed.Store(gen)
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for k, g := range s.gone {
			if g <= gen {
				delete(s.gone, k)
			}
		}
		for len(s.slots) > s.max {
			v := p.victimLocked(s)
			if v < 0 {
				break
			}
			old := s.slots[v]
			s.removeLocked(old.key, old.e)
			if p.load != nil {
				p.spilled.Store(true)
			}
		}
		s.mu.Unlock()
	}
}

// MarkChanged marks keys changed again, so that the next Drain returns them: for a writer whose write failed.
func (p *Profiles) MarkChanged(keys []uint64) {
	for _, k := range keys {
		s := p.shard(k)
		s.mu.Lock()
		p.markLocked(s, k, s.lookupLocked(k))
		s.mu.Unlock()
	}
}

// insert adds an entry read at start-up, without marking it changed, unless its shard is full: then the profile
// stays in the store only, and insert reports false.
func (p *Profiles) insert(key uint64, e *profileEntry) bool {
	s := p.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.slots) >= s.max {
		p.spilled.Store(true)
		return false
	}
	e.pos = uint32(len(s.slots))
	s.slots = append(s.slots, profileSlot{key: key, e: e})
	s.index.insert(key, e.pos)
	return true
}

// reserve sizes the shards' slots for n profiles (at most their bounds) before a load, so that they do not
// grow (and copy) on the way.
func (p *Profiles) reserve(n int) {
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		if len(s.slots) == 0 {
			k := min(n/profileShards+n/profileShards/8, s.max)
			s.slots = make([]profileSlot, 0, k)
		}
		s.mu.Unlock()
	}
}
