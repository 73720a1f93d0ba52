package store

import "math"

// Merging records: instances that share state through Redis each write their own contribution of a subject's
// record (the record's bytes, redis_contrib.go) and read everyone's; merge folds the contributions into one record
// that reads as if it had seen every instance's events, so that Redis runs only native commands and the
// arithmetic stays here, on the record layout the rest of the package reads.
//
// A merged record reads exactly as a record that saw all the events itself, as of any time not before the newest
// event, for the rings and for the stamped sets and registers while no set had to forget an item. Where they
// differ, and why:
//   - A stamped set keeps its most recently seen items (setAdd). The union of sets that together saw more items
//     than the set holds keeps the most recent of them, up to its size: every window reads at least what any one
//     contribution reads, and exactly the set's size or the union's count within it, whichever is less. A single
//     record that overflowed may differ from it by what it forgot earlier.
//   - A device's user agent is the one of the contribution whose newest event is newest: a record does not say when
//     it learnt its user agent, so a newer event without one leaves the older contribution's unknown to the merge.
//     Contributions whose newest events share a minute keep the greater user agent, so that every instance reading
//     the same contributions in any order reads the same one.
//   - Amounts are summed in float32 per contribution, then across them: sums of amounts not exact in float32 may
//     round differently from one record's running sums.
//
// Merging is commutative in what the result reads, and a zero record is its identity; it is not idempotent: the
// rings and amounts add, so each contribution is merged once, into a record that holds none of it.

// merge folds o's counts into r: r reads as one record that saw the events of both. Per window the merged ring's
// head is the newer of the two; r's ring moves to it first, clearing the buckets it leaves as add does, then o's
// buckets that the merged ring still holds are added to r's, saturating as add does. A window of either record
// that holds no count contributes no head: a record that never counted anything (its heads 0) is no record.
func (r *velocityRecord) merge(o *velocityRecord) {
	for w := range NumWindows {
		if o.n[w] == ([NumMetrics][ringLen]uint16{}) {
			continue
		}
		if r.n[w] == ([NumMetrics][ringLen]uint16{}) {
			r.head[w], r.n[w] = o.head[w], o.n[w]
			continue
		}
		h, oh := int64(r.head[w]), int64(o.head[w])
		if oh > h {
			r.advance(w, h, oh)
			h = oh
		}
		for j := h - ringLen + 1; j <= oh; j++ { // o's buckets that the merged ring (h-ringLen, h] holds
			s := slot(j)
			for m := range NumMetrics {
				r.n[w][m][s] = uint16(min(uint32(r.n[w][m][s])+uint32(o.n[w][m][s]), math.MaxUint16))
			}
		}
	}
}

// mergeAmounts is velocityRecord.merge for a user's amount rings (float32 buckets, no saturation).
func (r *userFacts) mergeAmounts(o *userFacts) {
	for j := range r.amountHead {
		if o.amount[j] == ([ringLen]float32{}) {
			continue
		}
		if r.amount[j] == ([ringLen]float32{}) {
			r.amountHead[j], r.amount[j] = o.amountHead[j], o.amount[j]
			continue
		}
		h, oh := int64(r.amountHead[j]), int64(o.amountHead[j])
		if oh > h {
			for k := max(h+1, oh-ringLen+1); k <= oh; k++ { // as add clears the buckets it leaves
				r.amount[j][slot(k)] = 0
			}
			r.amountHead[j] = int32(oh)
			h = oh
		}
		for k := h - ringLen + 1; k <= oh; k++ {
			s := slot(k)
			r.amount[j][s] += o.amount[j][s]
		}
	}
}

// setUnion adds src's items to dst as setAdd would, except that an item seen less recently than all of a full
// dst's is passed over rather than made to evict a more recent one: dst ends with the most recently seen items
// of both, up to its size, whatever the order of either. An item in both keeps its newer stamp (setAdd).
func setUnion(dst, src []uint32) {
	for _, v := range src {
		if v == 0 {
			continue
		}
		fp, st := uint16(v>>16), uint16(v)
		if !setTakes(dst, fp, st) {
			continue
		}
		setAdd(dst, fp, st)
	}
}

// setTakes reports whether setAdd of fp at stamp st changes what dst keeps for the better: dst has room or
// holds fp, or holds an item seen before st.
func setTakes(dst []uint32, fp, st uint16) bool {
	for _, d := range dst {
		if d == 0 || uint16(d>>16) == fp || age(st, uint16(d)) > 0 {
			return true
		}
	}
	return false
}

// regUnion keeps per register the newer stamp of dst's and src's (0: empty), as add sets one.
func regUnion(dst, src []uint16) {
	for i, s := range src {
		if g := &dst[i]; s != 0 && (*g == 0 || age(s, *g) > 0) {
			*g = s
		}
	}
}

// mergedMinute returns the minute and stamp that two held records' facts are brought forward to before their union:
// the newer of their newest events, as touch brings a record forward to an event.
func mergedMinute(a, b *factsHeader) (int32, uint16) {
	mn := max(a.last, b.last)
	return mn, stampOf(mn)
}

// merge folds o's facts into r: r is brought forward to the newer of both records' newest minute as touch would
// bring it to an event then (cleared after a day, swept when its hour changed), so is a copy of o, then their
// sets and rings are joined.
func (r *userFacts) merge(o *userFacts) {
	switch {
	case !o.held():
		return
	case !r.held():
		*r = *o
		return
	}
	mn, st := mergedMinute(&r.factsHeader, &o.factsHeader)
	r.touch(mn, st, r.slots[:], nil)
	oc := *o
	oc.touch(mn, st, oc.slots[:], nil)
	setUnion(r.ips(), oc.ips())
	setUnion(r.devices(), oc.devices())
	setUnion(r.countries(), oc.countries())
	r.mergeAmounts(o)
}

func (r *addrFacts) merge(o *addrFacts) {
	switch {
	case !o.held():
		return
	case !r.held():
		*r = *o
		r.regsValid = false
		return
	}
	mn, st := mergedMinute(&r.factsHeader, &o.factsHeader)
	r.touch(mn, st, r.users[:], r.regs[:])
	oc := *o
	oc.touch(mn, st, oc.users[:], oc.regs[:])
	setUnion(r.users[:], oc.users[:])
	regUnion(r.regs[:], oc.regs[:])
	r.regsValid = false // the kept register counts are of r's registers alone
}

func (r *deviceFacts) merge(o *deviceFacts) {
	switch {
	case !o.held():
		return
	case !r.held():
		*r = *o
		return
	}
	switch {
	case o.last > r.last && o.ua != 0, r.ua == 0:
		r.ua = o.ua
	case o.last == r.last:
		r.ua = max(r.ua, o.ua)
	}
	r.first = min(r.first, o.first)
	mn, st := mergedMinute(&r.factsHeader, &o.factsHeader)
	r.touch(mn, st, r.users[:], nil)
	oc := *o
	oc.touch(mn, st, oc.users[:], nil)
	setUnion(r.users[:], oc.users[:])
}

// merge folds o's record of the same subject into r: rings, then facts; r keeps its key. The facts are merged
// through their concrete types, not through factsRecord: a call through the instantiation's dictionary would
// make both records escape, and a caller merging records it decoded on its stack would allocate them.
func (r *subjectRecord[F, PF]) merge(o *subjectRecord[F, PF]) {
	r.velocityRecord.merge(&o.velocityRecord)
	switch f := any(&r.facts).(type) {
	case *userFacts:
		f.merge(any(&o.facts).(*userFacts))
	case *addrFacts:
		f.merge(any(&o.facts).(*addrFacts))
	case *deviceFacts:
		f.merge(any(&o.facts).(*deviceFacts))
	case *ringOnly:
	default: // a kind of facts added without its case here (the property tests merge every kind)
		panic("store: merge of facts without a case in subjectRecord.merge")
	}
}
