package lists

import (
	"net/netip"
	"slices"
	"strconv"
	"time"

	"go4.org/netipx"
)

// MaxLists bounds the lists a registry holds: a membership is one bit of a uint64.
const MaxLists = 64

// Mask has bit i set when an event belongs to the list in slot i.
type Mask uint64

// Has reports whether the list in slot i matched.
func (m Mask) Has(slot int) bool { return m&(1<<uint(slot)) != 0 }

// Query is what an event offers to lists.
type Query struct {
	IP        netip.Addr
	ASN       uint32
	Country   string
	DeviceKey uint64 // 0 = no device
	UserKey   uint64 // 0 = no user
}

// Snapshot is an immutable compiled view of every list at one time. Safe for concurrent use.
type Snapshot struct {
	lists      [MaxLists]*compiled
	names      [MaxLists]string
	expiresAt  time.Time // the earliest entry or exception expiry after the build; zero = none
	exceptions exceptionIndex
	builtAt    time.Time
	numEntries int
}

type compiled struct {
	kind    Kind
	ips     *netipx.IPSet
	numbers []uint32 // sorted ASNs
	codes   []string // sorted countries
	keys    map[uint64]struct{}
}

// Match returns the lists q belongs to. It allocates nothing.
func (s *Snapshot) Match(q *Query) Mask {
	if s == nil {
		return 0
	}
	var m Mask
	for i, c := range s.lists {
		if c != nil && c.match(q) {
			m |= 1 << uint(i)
		}
	}
	return m
}

func (c *compiled) match(q *Query) bool {
	switch c.kind {
	case IP:
		return q.IP.IsValid() && c.ips.Contains(q.IP.Unmap())
	case ASN:
		_, ok := slices.BinarySearch(c.numbers, q.ASN)
		return ok && q.ASN != 0
	case Country:
		_, ok := slices.BinarySearch(c.codes, q.Country)
		return ok && q.Country != ""
	case Device:
		_, ok := c.keys[q.DeviceKey]
		return ok && q.DeviceKey != 0
	case User:
		_, ok := c.keys[q.UserKey]
		return ok && q.UserKey != 0
	}
	return false
}

// Contains reports whether the value list in slot holds v (false for a list of another kind, or v empty). It
// allocates nothing.
func (s *Snapshot) Contains(slot int, v string) bool {
	if s == nil || slot < 0 || slot >= MaxLists || v == "" {
		return false
	}
	c := s.lists[slot]
	if c == nil || c.kind != Value {
		return false
	}
	_, ok := slices.BinarySearch(c.codes, v)
	return ok
}

// Slot returns the slot of the list named name, or -1.
func (s *Snapshot) Slot(name string) int {
	for i, n := range s.names {
		if n == name && s.lists[i] != nil {
			return i
		}
	}
	return -1
}

// Entries is the number of live entries in the snapshot.
func (s *Snapshot) Entries() int { return s.numEntries }

// build compiles the entries of every list that apply at now.
func build(ls *[MaxLists]*list, now time.Time) (*Snapshot, error) {
	s := &Snapshot{builtAt: now}
	for i, l := range ls {
		if l == nil {
			continue
		}
		s.names[i] = l.name
		c := &compiled{kind: l.kind}
		var b netipx.IPSetBuilder
		for _, e := range l.entries {
			if e.expired(now) {
				continue
			}
			if !e.Expires.IsZero() && (s.expiresAt.IsZero() || e.Expires.Before(s.expiresAt)) {
				s.expiresAt = e.Expires
			}
			s.numEntries++
			switch l.kind {
			case IP:
				b.AddPrefix(netip.MustParsePrefix(e.Value))
			case ASN:
				n, _ := strconv.ParseUint(e.Value, 10, 32)
				c.numbers = append(c.numbers, uint32(n))
			case Country, Value:
				c.codes = append(c.codes, e.Value)
			case Device, User:
				if c.keys == nil {
					c.keys = map[uint64]struct{}{}
				}
				k, _ := strconv.ParseUint(e.Value, 16, 64)
				c.keys[k] = struct{}{}
			}
		}
		if l.kind == IP {
			set, err := b.IPSet()
			if err != nil {
				return nil, err
			}
			c.ips = set
		}
		slices.Sort(c.numbers)
		slices.Sort(c.codes)
		s.lists[i] = c
	}
	return s, nil
}
