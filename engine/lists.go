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
	// attrSlots: per (list, attribute) pair of the set (rules.Set.AttrLists), the list's snapshot slot.
	attrSlots []int
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
	r.attrSlots = make([]int, len(set.AttrLists))
	for i, p := range set.AttrLists {
		r.attrSlots[i] = snap.Slot(p.List)
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

// fillAttributes fills the vector's attribute slots for set (rules.Set.Attributes) and the bits of the
// (list, attribute) pairs it tests (attr_list_mask). Without attr() in the set it only clears them.
func (e *Engine) fillAttributes(set *rules.Set, ev *features.Event, s *scratch) {
	v := &s.eval.Vector
	set.FillAttributes(ev, v)
	v.AttrListMask = 0
	if len(set.AttrLists) == 0 || e.lists == nil {
		return
	}
	if s.snap == nil {
		s.snap = e.lists.Snapshot()
	}
	r := e.resolution(set, s.snap)
	for i, p := range set.AttrLists {
		if s.snap.Contains(r.attrSlots[i], *v.AttrSlot(p.Attr)) {
			v.AttrListMask |= 1 << i
		}
	}
}
