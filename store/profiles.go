package store

import (
	"sync"
	"unsafe"
)

// Profiles is the in-memory table of user profiles. Safe for concurrent use.
//
// With tracking on (Track), the table remembers which keys changed since the last Drain, so that a writer can
// copy them out and persist them off the request path: marking a key costs a flag and, the first time, an append
// to a slice the writer empties, never I/O.
type Profiles struct {
	shards [profileShards]profileShard
	track  bool
	notify chan struct{} // non-blocking signal to the writer that something changed; nil = none
}

const profileShards = 64

type profileShard struct {
	profileShardState
	_ [128 - unsafe.Sizeof(profileShardState{})%128]byte // keeps neighbouring shards' locks apart
}

type profileShardState struct {
	mu    sync.Mutex
	m     map[uint64]*profileEntry
	dirty []uint64 // keys changed or deleted since the last Drain; a key may appear more than once
}

// profileEntry is a profile and whether it changed since it was last drained. A 440-byte entry fits the
// 448-byte allocation size class.
type profileEntry struct {
	p     Profile
	dirty bool
}

// Change is a profile to persist: its value when it was drained, or its deletion.
type Change struct {
	Key     uint64
	Deleted bool
	Profile Profile
}

// NewProfiles returns an empty table.
func NewProfiles() *Profiles {
	p := &Profiles{}
	for i := range p.shards {
		p.shards[i].m = make(map[uint64]*profileEntry)
	}
	return p
}

// Track turns on change tracking for Drain; notify, if not nil, gets a non-blocking send on every change. Call it
// before the table is shared.
func (p *Profiles) Track(notify chan struct{}) {
	p.track = true
	p.notify = notify
}

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
	}
	s.dirty = append(s.dirty, key)
	if p.notify != nil {
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
}

// Get copies the profile of key into out and reports whether one exists.
func (p *Profiles) Get(key uint64, out *Profile) bool {
	s := p.shard(key)
	s.mu.Lock()
	e, ok := s.m[key]
	if ok {
		*out = e.p
	}
	s.mu.Unlock()
	return ok
}

// Update applies fn to the profile of key under the table's lock, creating an empty profile first when there is
// none. fn must not block: it runs with the shard locked.
func (p *Profiles) Update(key uint64, fn func(*Profile)) {
	s := p.shard(key)
	s.mu.Lock()
	e, ok := s.m[key]
	if !ok {
		e = new(profileEntry)
		s.m[key] = e
	}
	fn(&e.p)
	p.markLocked(s, key, e)
	s.mu.Unlock()
}

// Apply applies op to the profile of key, creating the profile when op creates one.
func (p *Profiles) Apply(key uint64, op ProfileOp) {
	s := p.shard(key)
	s.mu.Lock()
	e, ok := s.m[key]
	if !ok {
		if !op.Creates() {
			s.mu.Unlock()
			return
		}
		e = new(profileEntry)
		s.m[key] = e
	}
	e.p.Apply(&op)
	p.markLocked(s, key, e)
	s.mu.Unlock()
}

// Put stores pr as the profile of key, or deletes key when pr is nil. It is how a copy read from another store
// is kept locally; it does not mark the key changed, since the other store already holds it.
func (p *Profiles) Put(key uint64, pr *Profile) {
	s := p.shard(key)
	s.mu.Lock()
	e, ok := s.m[key]
	switch {
	case pr == nil && ok:
		e.p = Profile{}
		delete(s.m, key)
	case pr == nil:
	case ok:
		e.p = *pr
	default:
		s.m[key] = &profileEntry{p: *pr}
	}
	s.mu.Unlock()
}

// Delete forgets the profile of key and reports whether there was one. The value is zeroed in memory, not only
// unlinked, since erasure is its usual reason.
func (p *Profiles) Delete(key uint64) bool {
	s := p.shard(key)
	s.mu.Lock()
	e, ok := s.m[key]
	if ok {
		e.p = Profile{}
		delete(s.m, key)
	}
	p.markLocked(s, key, nil)
	s.mu.Unlock()
	return ok
}

// Len is the number of profiles held.
func (p *Profiles) Len() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Expire applies Profile.Expire(cutoff) to every profile, deleting those left empty, and returns how many
// profiles changed. It locks one shard at a time, so requests wait at most for one shard's pass.
func (p *Profiles) Expire(cutoff int64) int {
	changed := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			ch, empty := e.p.Expire(cutoff)
			switch {
			case empty:
				e.p = Profile{}
				delete(s.m, k)
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

// Drain appends to dst every profile changed since the last Drain, as it is now (or its deletion), clears the
// changed marks and returns the extended slice. The copies are made under each shard's lock; whatever the caller
// then does with them (disk, network) happens without any lock held.
func (p *Profiles) Drain(dst []Change) []Change {
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for _, k := range s.dirty {
			e, ok := s.m[k]
			switch {
			case !ok:
				dst = append(dst, Change{Key: k, Deleted: true})
			case e.dirty:
				e.dirty = false
				dst = append(dst, Change{Key: k, Profile: e.p})
			}
		}
		clear(s.dirty)
		s.dirty = s.dirty[:0]
		s.mu.Unlock()
	}
	return dst
}

// MarkChanged marks keys changed again, so that the next Drain returns them: for a writer whose write failed.
func (p *Profiles) MarkChanged(keys []uint64) {
	for _, k := range keys {
		s := p.shard(k)
		s.mu.Lock()
		p.markLocked(s, k, s.m[k])
		s.mu.Unlock()
	}
}

// insert adds an entry read at start-up, without marking it changed.
func (p *Profiles) insert(key uint64, e *profileEntry) {
	s := p.shard(key)
	s.mu.Lock()
	s.m[key] = e
	s.mu.Unlock()
}

// reserve sizes the shards' maps for n profiles before a load, so that the maps do not grow (and rehash) on the way.
func (p *Profiles) reserve(n int) {
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		if len(s.m) == 0 {
			s.m = make(map[uint64]*profileEntry, n/profileShards+n/profileShards/8)
		}
		s.mu.Unlock()
	}
}
