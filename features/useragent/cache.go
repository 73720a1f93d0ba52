package useragent

import (
	"math/bits"
	"sync/atomic"
)

// cache maps user agents to their entries: a two-way set-associative, lock-free table of immutable entries. A
// hit is an atomic load and a string compare; a miss costs a parse, so the table keeps each answer until a
// newcomer to its set needs the room.
type cache struct {
	slots []atomic.Pointer[entry]
	mask  uint64
}

// newCache returns a cache of size slots, rounded up to a power of two (<= 0: DefaultCacheSize).
func newCache(size int) cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	n := 1 << bits.Len(uint(min(max(size, 2), maxCacheSlots)-1))
	return cache{slots: make([]atomic.Pointer[entry], n), mask: uint64(n - 1)}
}

// get returns the entry of ua (whose hash is h), or nil, and marks it used. The mark is written once per
// eviction round, not per hit: a hot entry's cache line is only read.
func (c *cache) get(ua string, h uint64) *entry {
	e := c.find(ua, h)
	if e != nil && !e.used.Load() {
		e.used.Store(true)
	}
	return e
}

// find returns the entry of ua (whose hash is h), or nil, leaving its mark alone.
func (c *cache) find(ua string, h uint64) *entry {
	set := c.set(h)
	for i := range set {
		if e := set[i].Load(); e != nil && e.ua == ua {
			return e
		}
	}
	return nil
}

// put stores e (whose user agent's hash is h) and reports whether it did. Last writer wins: a concurrent put on
// the same way may replace e, which costs only a later parse; callers holding a replaced entry's Info keep a
// valid, unchanged answer. A set whose two answers were both used since the last put there refuses e (see
// victim); e may try again at its next sighting.
func (c *cache) put(e *entry, h uint64) bool {
	set := c.set(h)
	i := victim(set, h)
	if i < 0 {
		return false
	}
	set[i].Store(e)
	return true
}

// replace publishes full in place of old, only where old still is: its way may hold another user agent by now.
func (c *cache) replace(old, full *entry, h uint64) {
	set := c.set(h)
	for i := range set {
		set[i].CompareAndSwap(old, full)
	}
}

// set returns the two slots a user agent with hash h may occupy. Two ways per set rather than one slot: with a
// few hundred user agents in a direct-mapped table of thousands, some pairs share a slot (the birthday
// problem) and would evict each other on every request, each time paying a parse.
func (c *cache) set(h uint64) *[2]atomic.Pointer[entry] {
	i := h & c.mask &^ 1
	return (*[2]atomic.Pointer[entry])(c.slots[i : i+2])
}

// victim picks the way a new entry takes, or -1 to refuse it: an empty way; else one still waiting for its
// parse (a newcomer, which cost nothing yet); else one not used since the last put in this set, starting with
// the way h's top bit names; each used one loses its mark, so it stays only if used again before the next put
// (a second chance, as CLOCK gives). An attacker's user agents, each sent a few times, are never used once
// cached, so they replace each other rather than the user agents real users send again and again.
func victim(set *[2]atomic.Pointer[entry], h uint64) int {
	var ways [2]*entry
	for i := range set {
		if ways[i] = set[i].Load(); ways[i] == nil {
			return i
		}
	}
	for i, e := range ways {
		if e.pending {
			return i
		}
	}
	first := int(h >> 63)
	for k := range 2 {
		i := first ^ k
		if !ways[i].used.Load() {
			return i
		}
	}
	for _, e := range ways {
		e.used.Store(false)
	}
	return -1
}

// doorkeeperPerSlot is how many user agents the doorkeeper remembers per cache slot. A user agent must be seen
// again before that many other new ones have passed to be admitted; more remembered, more one-off agents a
// flood must send to make a real user agent wait for a third sighting. 4 B each: 256 KiB for the default cache.
const doorkeeperPerSlot = 4

// doorkeeper remembers which user agents were seen once, so that only the second sighting enters the cache
// (the doorkeeper of TinyLFU, Einziger et al.): a flood of user agents each sent once then never evicts the
// cached ones, nor costs an allocation. It is a direct-mapped table of 32-bit fingerprints, lock-free; a newer
// user agent overwrites an older one's fingerprint, which then needs one more sighting: the table forgets by
// itself, no reset needed. A fingerprint shared by two user agents (1 in 2^32 per slot) admits one early.
type doorkeeper struct {
	seen []atomic.Uint32
	mask uint64
}

func newDoorkeeper(n int) doorkeeper {
	n = 1 << bits.Len(uint(max(n, 2)-1))
	return doorkeeper{seen: make([]atomic.Uint32, n), mask: uint64(n - 1)}
}

// seenBefore reports whether the user agent of hash h was seen since its fingerprint was last overwritten, and
// notes this sighting. The slot comes from the hash's high bits, the fingerprint from its low ones, so that
// neither repeats the cache's set index.
func (d *doorkeeper) seenBefore(h uint64) bool {
	slot := &d.seen[(h>>32)&d.mask]
	fp := uint32(h) | 1 // never 0, the empty slot
	if slot.Load() == fp {
		return true
	}
	slot.Store(fp)
	return false
}
