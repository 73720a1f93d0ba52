package engine

import (
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/rules"
)

// CodeException is the reason code that records an exception suppressing rules for an event.
const CodeException = "exception"

// listResolution maps a rule set's list numbering (rules.Set.Lists) to the slots of one lists snapshot. It is
// rebuilt only when either changes, so a request maps bits without looking names up.
type listResolution struct {
	set   *rules.Set
	snap  *lists.Snapshot
	slots []int // per set list: the snapshot slot, -1 when the list does not exist
}

func (e *Engine) resolution(set *rules.Set, snap *lists.Snapshot) *listResolution {
	cache := &e.listLive
	if set == e.shadow.Load() {
		cache = &e.listShadow
	}
	if r := cache.Load(); r != nil && r.set == set && r.snap == snap {
		return r
	}
	r := &listResolution{set: set, snap: snap, slots: make([]int, len(set.Lists))}
	for i, name := range set.Lists {
		r.slots[i] = snap.Slot(name)
	}
	cache.Store(r)
	return r
}

// mask turns the snapshot's membership into the set's list_mask.
func (r *listResolution) mask(m lists.Mask) int {
	if m == 0 {
		return 0
	}
	out := 0
	for i, slot := range r.slots {
		if slot >= 0 && m.Has(slot) {
			out |= 1 << i
		}
	}
	return out
}

// listsFor fills the vector's list_mask for set and, when exceptions match the event, the rules they suppress
// (nil when none: the common case costs no more than the lookups).
// buf is the caller's reusable buffer for the result.
func (e *Engine) listsFor(set *rules.Set, s *scratch, m lists.Mask, buf *[]bool) []bool {
	s.eval.Vector.ListMask = e.resolution(set, s.snap).mask(m)
	if len(s.exceptions) == 0 {
		return nil
	}
	sup := (*buf)[:0]
	for range set.Rules {
		sup = append(sup, false)
	}
	for _, x := range s.exceptions {
		for _, id := range x.Rules {
			if i := set.Index(id); i >= 0 {
				sup[i] = true
			}
		}
	}
	*buf = sup
	return sup
}

// matchLists looks the event up in the lists and exceptions.
func (e *Engine) matchLists(ev *features.Event, s *scratch) lists.Mask {
	s.snap = e.lists.Snapshot()
	v := &s.eval.Vector
	s.subject = lists.Subject{Query: lists.Query{IP: ev.IP, ASN: uint32(v.ASN), Country: v.Country,
		DeviceKey: s.obs.DeviceKey, UserKey: s.obs.UserKey}, Tenant: ev.Tenant}
	s.exceptions = s.snap.Exceptions(&s.subject, s.exceptions[:0])
	return s.snap.Match(&s.subject.Query)
}
