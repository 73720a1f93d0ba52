package store

import (
	"math"
	"sync/atomic"
	"unsafe"
)

// DefaultProfiles is the bound on profiles held in memory that NewProfiles uses: about 780 MB at the ~780 bytes
// a profile costs, table included (TestProfileBytesPerUser).
const DefaultProfiles = 1_000_000

// Profiles is the in-memory table of user profiles. Safe for concurrent use.
//
// It is a table (table.go) of profile records, as the subjects' counters and facts are: bounded, where a new
// profile in a full shard evicts the least recently used of evictSamples sampled profiles, so a spray of new
// users evicts cold profiles, never the table. Without a store behind the table (SetLoader), an evicted user is
// forgotten and looks new again. With one, only profiles that the store already holds are evicted (a profile
// with a change not yet committed is kept: the table's insertKeeping passes it over, and the shard goes over
// its bound until the next commit), and a miss reads the store and puts the profile back. A profile's last
// activity is its shard's use clock, bumped at every use of a profile.
//
// With tracking on (Track), the table remembers which keys changed since the last Drain, so that a writer can
// copy them out and persist them off the request path: marking a key costs a flag and, the first time, an append
// to a slice the writer empties, never I/O.
type Profiles struct {
	table[profileRecord, *profileRecord]
	ext    []profileShard // per shard of the table, guarded by its lock
	track  bool
	notify chan struct{} // non-blocking signal to the writer that something changed; nil = none
	// load reads a profile from the store behind the table, reporting whether it holds one; nil = no store.
	load func(key uint64, out *Profile) bool
	// keep is the table's eviction policy: a profile's last use, and whether it may leave memory (with
	// tracking on, only once its last change is committed). Made once: a method value would be made at every
	// eviction.
	keep keeping[*profileRecord]
	// spilled: some profile may be in the store and not in memory, so a miss must ask the store.
	spilled   atomic.Bool
	drained   atomic.Uint64 // generation of the last Drain; only the writer changes it
	committed atomic.Uint64 // generation of the last Drain whose changes are durable
}

// profileRoom is how many times its bound a shard may hold while its profiles are kept by changes the store
// does not hold yet. Beyond, the disk has taken no commit for that long, and a new profile evicts as if
// everything were committed: losing a change beats running out of memory.
const profileRoom = 32

// pendingGen marks a tombstone whose deletion has not been drained yet.
const pendingGen = math.MaxUint64

// profileShard is the write-behind state of one shard of the table, guarded by the shard's lock.
type profileShard struct {
	profileShardState
	_ [128 - unsafe.Sizeof(profileShardState{})%128]byte // keeps neighbouring shards' state apart
}

type profileShardState struct {
	dirty []uint64 // keys changed or deleted since the last Drain; a key may appear more than once
	// gone holds, with tracking on, the keys deleted in memory whose deletion is not yet durable, with the
	// generation of the Drain that took it (pendingGen: not yet drained): the store still has them, and a miss
	// must not read them back.
	gone  map[uint64]uint64
	tick  int32  // use clock: bumped at every use of a profile
	epoch uint64 // bumped whenever a profile leaves memory; a load that saw another epoch reads again
}

// profileRecord is a profile, its last use and its write-behind state.
type profileRecord struct {
	key uint64
	gen uint64 // Drain generation that last took the profile; evictable once committed
	// used is the shard's use clock at the profile's last use, which eviction reads (keep).
	used  int32
	dirty bool // changed since it was last drained
	p     Profile
}

func (r *profileRecord) recordKey() uint64 { return r.key }
func (r *profileRecord) setKey(key uint64) { r.key = key }

// lastActive completes the record interface; Profiles keep their shards' use clocks themselves (touch).
func (r *profileRecord) lastActive() int32 { return 0 }

// Change is a profile to persist: its value when it was drained, or its deletion.
type Change struct {
	Key     uint64
	Deleted bool
	Profile Profile
}

// NewProfiles returns an empty table holding at most DefaultProfiles profiles.
func NewProfiles() *Profiles { return NewBoundedProfiles(DefaultProfiles) }

// NewBoundedProfiles returns an empty table holding at most maxProfiles profiles (DefaultProfiles when <= 0).
func NewBoundedProfiles(maxProfiles int) *Profiles {
	if maxProfiles <= 0 {
		maxProfiles = DefaultProfiles
	}
	p := &Profiles{table: makeTable[profileRecord](maxProfiles, profileRoom, "profiles")}
	p.ext = make([]profileShard, len(p.shards))
	for i := range p.ext {
		p.ext[i].gone = make(map[uint64]uint64)
	}
	p.keep = func(r *profileRecord) (int32, bool) {
		return r.used, !p.track || !r.dirty && r.gen <= p.committed.Load()
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

// lockShard locks key's shard and returns it with its write-behind state.
func (p *Profiles) lockShard(key uint64) (*tableShard[profileRecord, *profileRecord], *profileShard) {
	i := p.shardIndex(key)
	s := &p.shards[i]
	s.mu.Lock()
	return s, &p.ext[i]
}

// markLocked records that key changed; r is key's record, or nil when the key was deleted.
func (p *Profiles) markLocked(x *profileShard, key uint64, r *profileRecord) {
	if !p.track {
		return
	}
	if r != nil {
		if r.dirty {
			return
		}
		r.dirty = true
	} else {
		x.gone[key] = pendingGen
	}
	x.dirty = append(x.dirty, key)
	if p.notify != nil {
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
}

// touch records a use of the profile at pos. The clock is halved, with every use it holds, when it reaches
// its end: the order of uses, which is all eviction reads, stays.
func touch(s *tableShard[profileRecord, *profileRecord], x *profileShard, pos uint32) {
	if x.tick == math.MaxInt32 {
		for i := range s.n {
			s.rec(i).used >>= 1
		}
		x.tick >>= 1
	}
	x.tick++
	s.rec(pos).used = x.tick
}

// entryLocked returns the position of key's profile. On a miss, with a store behind the table that may hold the
// key, it reads the store with s unlocked and adds what it found; s is locked on entry and on return.
func (p *Profiles) entryLocked(s *tableShard[profileRecord, *profileRecord], x *profileShard, key uint64) (uint32, bool) {
	if pos, ok := s.find(key); ok {
		return pos, true
	}
	if p.load == nil || !p.spilled.Load() {
		return 0, false
	}
	if _, ok := x.gone[key]; ok {
		return 0, false // deleted; the store may not know yet
	}
	for {
		epoch := x.epoch
		s.mu.Unlock()
		read := new(Profile)
		found := p.load(key, read)
		s.mu.Lock()
		if pos, ok := s.find(key); ok {
			return pos, true // added meanwhile
		}
		if _, ok := x.gone[key]; ok {
			return 0, false
		}
		if x.epoch != epoch {
			continue // a profile left memory meanwhile: what was read may predate its last commit
		}
		if !found {
			return 0, false
		}
		pos := p.addLocked(s, x, key)
		s.rec(pos).p = *read
		return pos, true
	}
}

// addLocked adds an empty profile for key, evicting another profile when the shard is full, and returns its
// position. When every sampled profile has a change the store does not hold yet, the shard goes over its bound
// until the next commit (Committed trims it).
func (p *Profiles) addLocked(s *tableShard[profileRecord, *profileRecord], x *profileShard, key uint64) uint32 {
	pos, evicted := s.insertKeeping(key, p.keep)
	if evicted {
		x.epoch++
		if p.load != nil {
			p.spilled.Store(true)
		}
	}
	s.rec(pos).key = key
	touch(s, x, pos)
	delete(x.gone, key) // re-created: its next commit overwrites the deletion, and it cannot leave before that
	return pos
}

// removeLocked forgets the profile at pos; the record is zeroed, not only unlinked (erasure is a usual reason).
func removeLocked(s *tableShard[profileRecord, *profileRecord], x *profileShard, pos uint32) {
	s.deleteAt(pos)
	x.epoch++
}

// Get copies the profile of key into out and reports whether one exists.
func (p *Profiles) Get(key uint64, out *Profile) bool {
	s, x := p.lockShard(key)
	pos, ok := p.entryLocked(s, x, key)
	if ok {
		touch(s, x, pos)
		*out = s.rec(pos).p
	}
	s.mu.Unlock()
	return ok
}

// Update applies fn to the profile of key under the table's lock, creating an empty profile first when there is
// none. fn must not block: it runs with the shard locked.
func (p *Profiles) Update(key uint64, fn func(*Profile)) {
	s, x := p.lockShard(key)
	pos, ok := p.entryLocked(s, x, key)
	if !ok {
		pos = p.addLocked(s, x, key)
	} else {
		touch(s, x, pos)
	}
	r := s.rec(pos)
	fn(&r.p)
	p.markLocked(x, key, r)
	s.mu.Unlock()
}

// Apply applies op to the profile of key, creating the profile when op creates one.
func (p *Profiles) Apply(key uint64, op ProfileOp) {
	s, x := p.lockShard(key)
	pos, ok := p.entryLocked(s, x, key)
	if !ok {
		if !op.Creates() {
			s.mu.Unlock()
			return
		}
		pos = p.addLocked(s, x, key)
	} else {
		touch(s, x, pos)
	}
	r := s.rec(pos)
	r.p.Apply(&op)
	p.markLocked(x, key, r)
	s.mu.Unlock()
}

// Put stores pr as the profile of key, or deletes key when pr is nil. It is how a copy read from another store
// is kept locally; it does not mark the key changed, since the other store already holds it. It is not for a
// table with a loader.
func (p *Profiles) Put(key uint64, pr *Profile) {
	s, x := p.lockShard(key)
	pos, ok := s.find(key)
	switch {
	case pr == nil && ok:
		removeLocked(s, x, pos)
	case pr == nil:
	case ok:
		s.rec(pos).p = *pr
		touch(s, x, pos)
	default:
		s.rec(p.addLocked(s, x, key)).p = *pr
	}
	s.mu.Unlock()
}

// Delete forgets the profile of key and reports whether memory held one. The value is zeroed in memory, not
// only unlinked, since erasure is its usual reason. With tracking on, the deletion is drained even when memory
// held no profile, so that it reaches the store.
func (p *Profiles) Delete(key uint64) bool {
	s, x := p.lockShard(key)
	pos, ok := s.find(key)
	if ok {
		removeLocked(s, x, pos)
	}
	p.markLocked(x, key, nil)
	s.mu.Unlock()
	return ok
}

// Expire applies Profile.Expire(cutoff) to every profile in memory, deleting those left empty, and returns how
// many profiles changed. It locks one shard at a time, so requests wait at most for one shard's pass.
func (p *Profiles) Expire(cutoff int64) int {
	changed := 0
	for i := range p.shards {
		s, x := &p.shards[i], &p.ext[i]
		s.mu.Lock()
		// Backwards: removing moves the last record into the hole, and the last has been seen.
		for pos := int(s.n) - 1; pos >= 0; pos-- {
			r := s.rec(uint32(pos))
			ch, empty := r.p.Expire(cutoff)
			switch {
			case empty:
				k := r.key
				removeLocked(s, x, uint32(pos))
				p.markLocked(x, k, nil)
			case ch:
				p.markLocked(x, r.key, r)
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
	s, x := p.lockShard(key)
	defer s.mu.Unlock()
	_, held := s.find(key)
	pos, ok := p.entryLocked(s, x, key)
	if !ok {
		return false
	}
	if !held {
		s.rec(pos).used = math.MinInt32
	}
	r := s.rec(pos)
	ch, empty := r.p.Expire(cutoff)
	switch {
	case empty:
		removeLocked(s, x, pos)
		p.markLocked(x, key, nil)
	case ch:
		p.markLocked(x, key, r)
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
		s, x := &p.shards[i], &p.ext[i]
		s.mu.Lock()
		for _, k := range x.dirty {
			r := s.get(k)
			switch {
			case r == nil:
				if _, t := x.gone[k]; t { // else evicted: the store holds it (a deletion is always a tombstone)
					dst = append(dst, Change{Key: k, Deleted: true})
					x.gone[k] = gen
				}
			case r.dirty:
				r.dirty = false
				r.gen = gen
				dst = append(dst, Change{Key: k, Profile: r.p})
			}
		}
		clear(x.dirty)
		x.dirty = x.dirty[:0]
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
		s, x := &p.shards[i], &p.ext[i]
		s.mu.Lock()
		for k, g := range x.gone {
			if g <= gen {
				delete(x.gone, k)
			}
		}
		for s.n > s.max {
			v, ok := s.victimKeeping(p.keep, false)
			if !ok {
				break
			}
			removeLocked(s, x, v)
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
		s, x := p.lockShard(k)
		p.markLocked(x, k, s.get(k))
		s.mu.Unlock()
	}
}

// insert adds a profile read at start-up, without marking it changed, unless its shard is full: then the
// profile stays in the store only, and insert reports false.
func (p *Profiles) insert(key uint64, pr *Profile) bool {
	s, _ := p.lockShard(key)
	defer s.mu.Unlock()
	if s.n >= s.max {
		p.spilled.Store(true)
		return false
	}
	pos, _ := s.insertKeeping(key, p.keep)
	r := s.rec(pos)
	r.key, r.p = key, *pr
	return true
}
