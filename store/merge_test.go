package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The merge is held to one record that saw every event: random event streams of one subject are split at random
// across 2 to 4 instances, each counting its share in its own table as memory does (observe, count), while one
// more table sees every event in order. The instances' records merged must read what the single record reads,
// at the newest event and later (merge.go says where they may differ, and the tests check those bounds).
//
// Why late events (a few minutes behind the newest) interleaved across instances still merge exactly:
//   - Rings: a record drops an event only when its bucket lies before its ring, which lies before the merged
//     ring as well; the single record's ring at any time lies at or before the merged one, so both hold exactly
//     the events whose buckets lie in the merged ring.
//   - Sets and registers, while no set is full: each keeps per item its newest stamp; sweeps and clears (touch)
//     remove only stamps a day older than a later event, which no window read at or after the newest event counts,
//     whether the single record removed them or an instance did (the instances sweep at other events).
//
// Where they differ: a full set. An instance's set forgets its least recently seen item, the single record's
// another one (a late event into a full set may even push out a more recent item), so with overflow only the
// bounds of checkMergedSets hold, the registers still read alike. And a device's user agent, where two
// instances' newest events share a minute: the single record keeps the one that arrived last, which no record says.

const mergeKey = 77

// mergeEvent is one event of a stream: what it concerns, when, and which instance counts it.
type mergeEvent struct {
	at        int64
	s         Subjects
	ms        MetricSet
	countOnly bool // counted without an attempt (Count): rings only
	inst      int
}

// mergePools is how many distinct items of each sort a stream draws from: few enough and no set overflows.
type mergePools struct{ users, ips, devices, countries int }

// mergeItem is the i-th item of a pool: distinct fingerprints (the top 16 bits), spread registers (the low bits).
func mergeItem(i int) uint64 { return uint64(i+1)<<48 | uint64(i*7919+13) }

func mergeStream(rng *rand.Rand, n, instances int, p mergePools) []mergeEvent {
	now := int64(t0) + rng.Int64N(86400)
	evs := make([]mergeEvent, 0, n)
	for range n {
		var at int64
		switch x := rng.IntN(100); {
		case x < 55: // busy
			now += rng.Int64N(30)
			at = now
		case x < 75: // minutes
			now += 60 + rng.Int64N(3600)
			at = now
		case x < 83: // hours
			now += 3600 * (1 + rng.Int64N(20))
			at = now
		case x < 86: // days
			now += 86400*(1+rng.Int64N(2)) + rng.Int64N(86400)
			at = now
		case x < 87: // weeks: an instance's stamps from before no longer compare with the newest
			now += 86400 * (23 + rng.Int64N(30))
			at = now
		default: // late: a few minutes behind the newest
			at = now - rng.Int64N(300)
		}
		e := mergeEvent{at: at, ms: MetricSet(1 + rng.IntN(7)), countOnly: rng.IntN(10) == 0, inst: rng.IntN(instances)}
		s := &e.s
		s.User, s.HasUser = mergeItem(rng.IntN(p.users)), rng.IntN(10) != 0
		s.IP, s.HasIP = mergeItem(rng.IntN(p.ips)), rng.IntN(10) != 0
		s.Device, s.HasDevice = mergeItem(rng.IntN(p.devices)), rng.IntN(5) != 0
		if c := rng.IntN(p.countries + 1); c > 0 {
			s.Country = [2]byte{'A' + byte(c/26), 'A' + byte(c%26)}
		}
		s.UA = uint32(1 + rng.IntN(5)) // every event with a user agent: see the device's in merge.go
		// Whole amounts: their float32 sums are exact in any order.
		s.Amount, s.HasAmount = float64(rng.IntN(1000)), rng.IntN(2) == 0
		evs = append(evs, e)
	}
	return evs
}

func applyEvent(t subjectTable, e *mergeEvent) {
	if e.countOnly {
		t.count(mergeKey, e.ms, e.at)
		return
	}
	var counts [NumMetrics]Counts
	var f Facts
	t.observe(mergeKey, e.s, e.at, e.ms, &counts, &f)
}

// recordIn is a copy of key's record in t, or the zero record when t holds none.
func recordIn[F any, PF factsRecord[F]](t subjectTable, key uint64) subjectRecord[F, PF] {
	sh := t.(*kindTable[F, PF]).shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := sh.get(key); r != nil {
		return *r
	}
	return subjectRecord[F, PF]{}
}

type mergeReading struct {
	counts [NumMetrics]Counts
	facts  Facts
}

// readRecord reads r as of at as a decision would (observe). It reads a copy: an address's read keeps counts.
func readRecord[F any, PF factsRecord[F]](r subjectRecord[F, PF], spec *kindSpec, at int64) mergeReading {
	var out mergeReading
	ix := bucketIndices(at)
	r.read(&ix, &out.counts)
	if f := PF(&r.facts); f.held() {
		f.readFacts(spec, at, &out.facts)
	}
	return out
}

// mergeReadTimes are the offsets from a stream's newest event that the tests read at.
var mergeReadTimes = []int64{0, 10, 59, 300, 3599, 3 * 3600, 23 * 3600, 25 * 3600, 3 * 86400}

// factSet is one stamped set of a facts record: its slots, and the item an event adds to it.
type factSet struct {
	name  string
	slots func(f any) []uint32
	item  func(s *Subjects) (uint16, bool)
}

var userFactSets = []factSet{
	{"ips", func(f any) []uint32 { return f.(*userFacts).ips() }, func(s *Subjects) (uint16, bool) { return Fingerprint(s.IP), s.HasIP }},
	{"devices", func(f any) []uint32 { return f.(*userFacts).devices() }, func(s *Subjects) (uint16, bool) { return Fingerprint(s.Device), s.HasDevice }},
	{"countries", func(f any) []uint32 { return f.(*userFacts).countries() }, func(s *Subjects) (uint16, bool) { return countryFP(s.Country), s.Country != [2]byte{} }},
}

var addrFactSets = []factSet{
	{"users", func(f any) []uint32 { return f.(*addrFacts).users[:] }, func(s *Subjects) (uint16, bool) { return Fingerprint(s.User), s.HasUser }},
}

var deviceFactSets = []factSet{
	{"users", func(f any) []uint32 { return f.(*deviceFacts).users[:] }, func(s *Subjects) (uint16, bool) { return Fingerprint(s.User), s.HasUser }},
}

func factSetsOf(k kind) []factSet {
	switch kinds[k].facts {
	case userRecord:
		return userFactSets
	case addrRecord:
		return addrFactSets
	case deviceRecord:
		return deviceFactSets
	}
	return nil
}

func setFull(slots []uint32) bool {
	for _, v := range slots {
		if v == 0 {
			return false
		}
	}
	return true
}

// mergeCase is what one stream's check covered.
type mergeCase struct{ exact, overflowed bool }

// checkMergeStream runs evs through one table per instance and a single table, merges the instances' records in
// a random order and compares what they read.
func checkMergeStream[F any, PF factsRecord[F]](t *testing.T, k kind, rng *rand.Rand, evs []mergeEvent, instances int, name string) mergeCase {
	t.Helper()
	spec := &kinds[k]
	sets := factSetsOf(k)
	single := newSubjectTable(k, 64)
	inst := make([]subjectTable, instances)
	for i := range inst {
		inst[i] = newSubjectTable(k, 64)
	}
	// A set that was ever full may have forgotten an item: the bound, not equality, holds then.
	singleFull, instFull := make([]bool, len(sets)), make([]bool, len(sets))
	var newest int64
	for i := range evs {
		e := &evs[i]
		newest = max(newest, e.at)
		applyEvent(single, e)
		applyEvent(inst[e.inst], e)
		s, r := recordIn[F, PF](single, mergeKey), recordIn[F, PF](inst[e.inst], mergeKey)
		for j, set := range sets {
			singleFull[j] = singleFull[j] || setFull(set.slots(&s.facts))
			instFull[j] = instFull[j] || setFull(set.slots(&r.facts))
		}
	}
	recs := make([]subjectRecord[F, PF], instances)
	for i := range inst {
		recs[i] = recordIn[F, PF](inst[i], mergeKey)
	}
	one := recordIn[F, PF](single, mergeKey)

	// Merge in a random order, into the zero record or into the first.
	order := rng.Perm(instances)
	var merged subjectRecord[F, PF]
	if rng.IntN(2) == 0 {
		merged, order = recs[order[0]], order[1:]
	}
	for _, i := range order {
		merged.merge(&recs[i])
	}
	if merged.key != one.key && merged.key != 0 {
		t.Fatalf("%s: merged key %d, want %d", name, merged.key, one.key)
	}

	overflowed := false
	for j := range sets {
		overflowed = overflowed || singleFull[j] || instFull[j]
	}
	uaWant, uaOneOf := deviceUA(recs)
	for _, d := range mergeReadTimes {
		at := newest + d
		got, want := readRecord(merged, spec, at), readRecord(one, spec, at)
		if got.counts != want.counts {
			t.Fatalf("%s at newest+%ds: merged counts %v, single record %v", name, d, got.counts, want.counts)
		}
		if kinds[k].facts == deviceRecord {
			if !uaOneOf[got.facts.DeviceUA] || (uaWant != 0 && got.facts.DeviceUA != want.facts.DeviceUA) {
				t.Fatalf("%s at newest+%ds: merged user agent %d, single record %d", name, d, got.facts.DeviceUA, want.facts.DeviceUA)
			}
			got.facts.DeviceUA, want.facts.DeviceUA = 0, 0
		}
		if !overflowed {
			if got.facts != want.facts {
				t.Fatalf("%s at newest+%ds: merged facts\n%+v\nsingle record\n%+v", name, d, got.facts, want.facts)
			}
			continue
		}
		// Overflowed: what no set decides is exact, each set holds the bound merge.go states.
		g, w := got.facts, want.facts
		g.UserIPs1h, g.UserIPs24h, g.UserDevices24h, g.UserCountries24h, g.DeviceUsers24h = 0, 0, 0, 0, 0
		w.UserIPs1h, w.UserIPs24h, w.UserDevices24h, w.UserCountries24h, w.DeviceUsers24h = 0, 0, 0, 0, 0
		g.IPUsers10m, g.IPUsers1h, g.IPUsers24h, g.SubnetUsers1h = 0, 0, 0, 0
		w.IPUsers10m, w.IPUsers1h, w.IPUsers24h, w.SubnetUsers1h = 0, 0, 0, 0
		if g != w {
			t.Fatalf("%s at newest+%ds: merged facts\n%+v\nsingle record\n%+v", name, d, got.facts, want.facts)
		}
		checkMergedSets(t, fmt.Sprintf("%s at newest+%ds", name, d), sets, instFull, &merged.facts, recs, evs, at)
		if a, ok := any(&merged.facts).(*addrFacts); ok && a.held() && a.fresh(minuteOf(at)) {
			now := stampOf(minuteOf(at))
			o := any(&one.facts).(*addrFacts)
			if g, w := setRegs(&a.regs, now, regWindows), setRegs(&o.regs, now, regWindows); g != w {
				t.Fatalf("%s at newest+%ds: merged registers read %v, single record %v", name, d, g, w)
			}
		}
	}

	// Merging commutes in what it reads, and a zero record changes nothing.
	a, b := rng.IntN(instances), rng.IntN(instances)
	ab, ba := recs[a], recs[b]
	ab.merge(&recs[b])
	ba.merge(&recs[a])
	var zero subjectRecord[F, PF]
	intoZero, withZero := zero, recs[a]
	intoZero.merge(&recs[a])
	withZero.merge(&zero)
	for _, d := range mergeReadTimes {
		at := newest + d
		if g, w := readRecord(ab, spec, at), readRecord(ba, spec, at); g != w {
			t.Fatalf("%s at newest+%ds: %d.merge(%d) reads %+v, %d.merge(%d) %+v", name, d, a, b, g, b, a, w)
		}
		want := readRecord(recs[a], spec, at)
		if g := readRecord(intoZero, spec, at); g != want {
			t.Fatalf("%s at newest+%ds: zero.merge(r) reads %+v, r %+v", name, d, g, want)
		}
		if g := readRecord(withZero, spec, at); g != want {
			t.Fatalf("%s at newest+%ds: r.merge(zero) reads %+v, r %+v", name, d, g, want)
		}
	}
	return mergeCase{exact: !overflowed, overflowed: overflowed}
}

// deviceUA is the user agent a merge of device records must read: the one of the only record whose newest event
// is newest (0 when records tie), and the set of those it may read (the tied records').
func deviceUA[F any, PF factsRecord[F]](recs []subjectRecord[F, PF]) (uint32, map[uint32]bool) {
	var newest int32
	for i := range recs {
		if d, ok := any(&recs[i].facts).(*deviceFacts); ok && d.held() {
			newest = max(newest, d.last)
		}
	}
	oneOf, n, ua := map[uint32]bool{}, 0, uint32(0)
	for i := range recs {
		if d, ok := any(&recs[i].facts).(*deviceFacts); ok && d.held() && d.last == newest {
			oneOf[d.ua], n, ua = true, n+1, d.ua
		}
	}
	if n == 0 {
		oneOf[0] = true
	}
	if n != 1 {
		ua = 0
	}
	return ua, oneOf
}

// checkMergedSets checks each set of a merge whose sets may have overflowed: per window it reads the set's size or
// the union of the instances' sets within the window, whichever is less (so at least what any instance reads),
// and, where no instance's set was ever full, the distinct items of the events within the window up to its size.
func checkMergedSets(t *testing.T, where string, sets []factSet, instFull []bool, merged any, recs any, evs []mergeEvent, at int64) {
	t.Helper()
	h := any(merged).(interface{ header() *factsHeader }).header()
	mn := minuteOf(at)
	if !h.held() || !h.fresh(mn) {
		return
	}
	now := stampOf(mn)
	for j, set := range sets {
		got := set.slots(merged)
		for _, w := range []int32{tenMinutes, hourMin, dayMin} {
			union, truth := map[uint16]bool{}, map[uint16]bool{}
			for _, f := range factsOf(recs) {
				if !f.(interface{ header() *factsHeader }).header().fresh(mn) {
					continue // idle for a day: its stamps may no longer compare, as its own reading knows
				}
				for _, v := range set.slots(f) {
					if v != 0 && since(now, uint16(v)) < uint32(w) {
						union[uint16(v>>16)] = true
					}
				}
			}
			for i := range evs {
				e := &evs[i]
				if fp, ok := set.item(&e.s); ok && !e.countOnly && mn-minuteOf(e.at) < w && minuteOf(e.at) <= mn {
					truth[fp] = true
				}
			}
			size := len(got)
			n := int(seen(got, now, uint32(w)))
			if want := min(size, len(union)); n != want {
				t.Fatalf("%s: merged %s within %d min: %d, want min(size %d, union %d)", where, set.name, w, n, size, len(union))
			}
			if want := min(size, len(truth)); !instFull[j] && n != want {
				t.Fatalf("%s: merged %s within %d min: %d, want min(size %d, distinct %d)", where, set.name, w, n, size, len(truth))
			}
		}
	}
}

func (h *factsHeader) header() *factsHeader { return h }

// factsOf is the facts of each record of recs ([]subjectRecord of any kind), as pointers.
func factsOf(recs any) []any {
	var out []any
	switch rs := recs.(type) {
	case []subjectRecord[userFacts, *userFacts]:
		for i := range rs {
			out = append(out, &rs[i].facts)
		}
	case []subjectRecord[addrFacts, *addrFacts]:
		for i := range rs {
			out = append(out, &rs[i].facts)
		}
	case []subjectRecord[deviceFacts, *deviceFacts]:
		for i := range rs {
			out = append(out, &rs[i].facts)
		}
	}
	return out
}

// TestMergeReadsAsOneRecord is the property test: per kind, streams small enough that no set overflows must
// merge to exactly what the single record reads; larger ones to the bounds of checkMergedSets.
func TestMergeReadsAsOneRecord(t *testing.T) {
	for k := range numKinds {
		t.Run(kinds[k].name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(k), 7))
			var exact, overflowed int
			for trial := range 300 {
				instances := 2 + rng.IntN(3)
				p := mergePools{users: 1 + rng.IntN(7), ips: 1 + rng.IntN(15), devices: 1 + rng.IntN(7), countries: rng.IntN(8)}
				if trial%3 == 0 { // overflowing
					p = mergePools{users: 4 + rng.IntN(60), ips: 8 + rng.IntN(40), devices: 4 + rng.IntN(20), countries: 4 + rng.IntN(20)}
				}
				evs := mergeStream(rng, 20+rng.IntN(280), instances, p)
				name := fmt.Sprintf("trial %d (%d instances, %d events, pools %+v)", trial, instances, len(evs), p)
				var c mergeCase
				switch kinds[k].facts {
				case userRecord:
					c = checkMergeStream[userFacts](t, k, rng, evs, instances, name)
				case addrRecord:
					c = checkMergeStream[addrFacts](t, k, rng, evs, instances, name)
				case deviceRecord:
					c = checkMergeStream[deviceFacts](t, k, rng, evs, instances, name)
				default:
					c = checkMergeStream[ringOnly](t, k, rng, evs, instances, name)
				}
				if c.exact {
					exact++
				}
				if c.overflowed {
					overflowed++
				}
			}
			// Both sides of the property must be exercised, or it proves less than it says.
			if exact < 100 || (kinds[k].facts != noFacts && overflowed < 30) {
				t.Fatalf("streams checked exactly: %d, overflowing: %d", exact, overflowed)
			}
			t.Logf("streams checked exactly: %d, overflowing: %d", exact, overflowed)
		})
	}
}

// mergeTable counts events into a fresh table of kind k and returns key's record.
func mergeRecord[F any, PF factsRecord[F]](k kind, evs ...mergeEvent) subjectRecord[F, PF] {
	tab := newSubjectTable(k, 64)
	for i := range evs {
		applyEvent(tab, &evs[i])
	}
	return recordIn[F, PF](tab, mergeKey)
}

// TestMergeRingsDaysApart: of two records days apart, the older contributes nothing but a device's first
// sighting, whichever side it is on; 30 days apart its stamps no longer compare and must still be cleared.
func TestMergeRingsDaysApart(t *testing.T) {
	for _, gap := range []int64{2*86400 + 7200, 30 * 86400} {
		for k := range numKinds {
			t.Run(fmt.Sprintf("%s %dh", kinds[k].name, gap/3600), func(t *testing.T) {
				switch kinds[k].facts {
				case userRecord:
					checkDaysApart[userFacts](t, k, gap)
				case addrRecord:
					checkDaysApart[addrFacts](t, k, gap)
				case deviceRecord:
					checkDaysApart[deviceFacts](t, k, gap)
				default:
					checkDaysApart[ringOnly](t, k, gap)
				}
			})
		}
	}
}

func checkDaysApart[F any, PF factsRecord[F]](t *testing.T, k kind, gap int64) {
	ev := func(at int64, i int) mergeEvent {
		return mergeEvent{at: at, ms: SetOf(Attempts, Failures), s: Subjects{
			User: mergeItem(i), HasUser: true, IP: mergeItem(i + 1), HasIP: true, Device: mergeItem(i + 2), HasDevice: true,
			Country: [2]byte{'A', 'A' + byte(i)}, UA: uint32(i), Amount: float64(i), HasAmount: true}}
	}
	var oldEvs []mergeEvent
	for i := range 10 { // enough items to fill every set of 8
		oldEvs = append(oldEvs, ev(t0+int64(i)*60, 10*i))
	}
	old := mergeRecord[F, PF](k, oldEvs...)
	recent := mergeRecord[F, PF](k, ev(t0+gap, 200), ev(t0+gap+120, 210))
	at := t0 + gap + 120
	want := readRecord(recent, &kinds[k], at)
	if want.counts[Attempts] != (Counts{1, 2, 2, 2}) {
		t.Fatalf("recent record reads %+v", want)
	}
	for _, m := range []struct {
		name string
		r, o subjectRecord[F, PF]
	}{{"old.merge(recent)", old, recent}, {"recent.merge(old)", recent, old}} {
		m.r.merge(&m.o)
		got := readRecord(m.r, &kinds[k], at)
		if kinds[k].facts == deviceRecord { // the device was first seen in the old record
			if got.facts.DeviceFirstSeen != t0 {
				t.Errorf("%s: first seen %d, want %d", m.name, got.facts.DeviceFirstSeen, t0)
			}
			got.facts.DeviceFirstSeen = want.facts.DeviceFirstSeen
		}
		if got != want {
			t.Errorf("%s reads %+v, want the recent record alone %+v", m.name, got, want)
		}
		if m.r.head != recent.head || m.r.n != recent.n {
			t.Errorf("%s rings %v %v, want the recent record's %v %v", m.name, m.r.head, m.r.n, recent.head, recent.n)
		}
		for _, set := range factSetsOf(k) {
			if g, w := set.slots(&m.r.facts), set.slots(&recent.facts); fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("%s %s %x, want the recent record's %x", m.name, set.name, g, w)
			}
		}
		switch f := any(&m.r.facts).(type) {
		case *addrFacts:
			if f.regs != any(&recent.facts).(*addrFacts).regs {
				t.Errorf("%s keeps the old record's registers: %v", m.name, f.regs)
			}
		case *userFacts:
			if r := any(&recent.facts).(*userFacts); f.amount != r.amount || f.amountHead != r.amountHead {
				t.Errorf("%s amounts %v %v, want the recent record's %v %v", m.name, f.amountHead, f.amount, r.amountHead, r.amount)
			}
		}
	}
}

func TestMergeSaturates(t *testing.T) {
	var r, o velocityRecord
	ix := bucketIndices(t0)
	r.head, o.head = ix, ix
	r.add(Failures, &ix, 65000)
	o.add(Failures, &ix, 1000)
	o.add(Attempts, &ix, 7)
	r.merge(&o)
	var got [NumMetrics]Counts
	r.read(&ix, &got)
	if got[Failures] != (Counts{65535, 65535, 65535, 65535}) || got[Attempts] != (Counts{7, 7, 7, 7}) {
		t.Fatalf("merged counts %v, want failures saturated at 65535 and 7 attempts", got)
	}
}

// TestMergeFullSets: two full sets of distinct users keep the most recently seen of both, whatever the order.
func TestMergeFullSets(t *testing.T) {
	var a, b addrFacts
	base := int32(t0 / 60)
	// a saw users 0..7 at minutes 0,2,..,14; b users 8..15 at minutes 1,3,..,15; both saw user 0, b later.
	for i := range addrUserSlots {
		a.add(int64(base+int32(2*i))*60, mergeItem(i))
		b.add(int64(base+int32(2*i+1))*60, mergeItem(addrUserSlots+i))
	}
	b.add(int64(base+16)*60, mergeItem(0))
	for _, m := range []struct {
		name string
		r, o addrFacts
	}{{"a.merge(b)", a, b}, {"b.merge(a)", b, a}} {
		m.r.merge(&m.o)
		want := map[uint32]bool{}
		// the 8 most recent: user 0 at 16, users 12..15 at 9..15, users 4..7 at 8..14 — then the newest 8 stamps.
		type item struct {
			user int
			mn   int32
		}
		all := []item{{0, 16}}
		for i := 1; i < addrUserSlots; i++ {
			all = append(all, item{i, int32(2 * i)})
		}
		for i := range addrUserSlots {
			all = append(all, item{addrUserSlots + i, int32(2*i + 1)})
		}
		for _, it := range all {
			if it.mn >= 9 {
				want[slotOf(Fingerprint(mergeItem(it.user)), stampOf(base+it.mn))] = true
			}
		}
		if len(want) != addrUserSlots {
			t.Fatalf("test expects %d items, has %d", addrUserSlots, len(want))
		}
		for _, v := range m.r.users {
			if !want[v] {
				t.Errorf("%s keeps %x, not among the %d most recent: %x", m.name, v, addrUserSlots, m.r.users)
			}
		}
		if m.r.last != base+16 || m.r.regsValid {
			t.Errorf("%s: last %d (want %d), regsValid %v", m.name, m.r.last, base+16, m.r.regsValid)
		}
	}
}

func TestMergeRegisters(t *testing.T) {
	base := int32(t0 / 60)
	var r, o addrFacts
	r.add(int64(base)*60, 5)           // register 5 at base
	r.add(int64(base+9)*60, 6)         // register 6 at base+9
	o.add(int64(base+3)*60, 5)         // register 5 at base+3: newer
	o.add(int64(base+2)*60, 6)         // register 6 at base+2: older
	o.add(int64(base+4)*60, 70)        // register 6 (70%64) at base+4: still older
	o.add(int64(base+1)*60, 127)       // register 63 at base+1, empty in r
	r.setRegs(base+9, stampOf(base+9)) // r keeps counts of its own registers
	r.merge(&o)
	want := map[int]uint16{5: stampOf(base + 3), 6: stampOf(base + 9), 63: stampOf(base + 1)}
	for i, g := range r.regs {
		if g != want[i] {
			t.Errorf("register %d: %d, want %d", i, g, want[i])
		}
	}
	if r.regsValid {
		t.Error("a merge keeps the registers' counts of one side")
	}
}

func TestMergeDeviceFirstAndUA(t *testing.T) {
	base := int64(t0)
	older := mergeRecord[deviceFacts](kindDevice,
		mergeEvent{at: base, ms: SetOf(Attempts), s: Subjects{UA: 1}},
		mergeEvent{at: base + 600, ms: SetOf(Attempts), s: Subjects{UA: 2}})
	newer := mergeRecord[deviceFacts](kindDevice,
		mergeEvent{at: base + 300, ms: SetOf(Attempts), s: Subjects{UA: 3}},
		mergeEvent{at: base + 900, ms: SetOf(Attempts), s: Subjects{UA: 4}})
	for _, m := range []struct {
		name string
		r, o subjectRecord[deviceFacts, *deviceFacts]
	}{{"older.merge(newer)", older, newer}, {"newer.merge(older)", newer, older}} {
		m.r.merge(&m.o)
		if m.r.facts.first != int32(base/60) || m.r.facts.ua != 4 || m.r.facts.last != int32((base+900)/60) {
			t.Errorf("%s: first %d ua %d last %d, want %d 4 %d", m.name, m.r.facts.first, m.r.facts.ua, m.r.facts.last, base/60, (base+900)/60)
		}
	}
	// A newer record without a user agent does not erase the other's.
	noUA := mergeRecord[deviceFacts](kindDevice, mergeEvent{at: base + 1200, ms: SetOf(Attempts), s: Subjects{}})
	r := older
	r.merge(&noUA)
	if r.facts.ua != 2 {
		t.Errorf("merge with a newer record without a user agent: ua %d, want 2", r.facts.ua)
	}
}

func TestMergeAllocs(t *testing.T) {
	at := int64(t0)
	ev := mergeEvent{at: at, ms: SetOf(Attempts), s: Subjects{User: mergeItem(1), HasUser: true, IP: mergeItem(2), HasIP: true,
		Device: mergeItem(3), HasDevice: true, Country: [2]byte{'F', 'R'}, UA: 9, Amount: 12, HasAmount: true}}
	late := ev
	late.at += 3 * 3600
	check := func(name string, merge func()) {
		if n := testing.AllocsPerRun(100, merge); n != 0 {
			t.Errorf("merging %s records allocates %.1f times", name, n)
		}
	}
	u1, u2 := mergeRecord[userFacts](kindUser, ev), mergeRecord[userFacts](kindUser, late)
	check("user", func() { r := u1; r.merge(&u2) })
	a1, a2 := mergeRecord[addrFacts](kindIP, ev), mergeRecord[addrFacts](kindIP, late)
	check("address", func() { r := a1; r.merge(&a2) })
	d1, d2 := mergeRecord[deviceFacts](kindDevice, ev), mergeRecord[deviceFacts](kindDevice, late)
	check("device", func() { r := d1; r.merge(&d2) })
	r1, r2 := mergeRecord[ringOnly](kindASN, ev), mergeRecord[ringOnly](kindASN, late)
	check("ring-only", func() { r := r1; r.merge(&r2) })
	if !u1.facts.held() || !a1.facts.held() || !d1.facts.held() || r1.head == ([NumWindows]int32{}) {
		t.Fatal("records to merge hold nothing")
	}
}
