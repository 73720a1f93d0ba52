package store

import (
	"math"
	"unsafe"
)

// Facts are what an attempt leaves besides its counters: which users, addresses, devices and countries it
// joined (distinct counts), the user's amounts (sums) and when a device was first seen and with which user
// agent. They are kept per subject in records of fixed size, beside the subject's velocity rings in its record
// (subjectRecord), so a spray of keys costs no more memory than the tables' bound.
//
// Distinct counts are kept as stamped sets: up to a few slots, each a 16-bit fingerprint of the item (the top
// bits of its keyed hash) and the minute it was last seen. A window's count is the number of slots seen within
// it, exact to the minute and exact in number up to the set's size (two of n items share a fingerprint with
// probability about n²/2^17). The set keeps the most recently seen items: when it is full the least recently
// seen one makes room, so a window holding fewer items than slots holds all of them. Addresses and subnets,
// where an attack brings hundreds of users, also keep 64 stamped registers: linear counting whose bits carry
// the minute they were last set (an item sets register item%64), which estimates counts beyond the set's size
// (-64·ln(empty/64): about ±12% at 100, saturating at 266, i.e. "hundreds").
//
// Every decision reads its subjects' facts, so reading is cheap: one pass over a set counts all the windows
// read; the registers are read only for a window whose set is full, four at a time in a 64-bit word, and their
// estimate comes from a table, not a logarithm; an address keeps its registers' counts for the minute they
// were made in until a register changes, since the busy addresses whose registers are read are read many times
// a minute and change few registers in one.
//
// A stamp is the minute (unix seconds / 60) modulo 65535, plus one so that 0 means empty. Stamps compare by
// their difference modulo 65535, which is right while ages stay within ±22 days; a record whose hour changes
// clears the stamps older than a day, and one untouched for a day is cleared whole, so they always do.
//
// With Redis, each instance writes the records of what it counted (redis_contrib.go) and reads everyone's,
// merged (merge.go), with this code: both backends read alike.

// Distinct windows, in minutes.
const (
	tenMinutes = 10
	hourMin    = 60
	dayMin     = 1440

	stampMod  = 65535
	stampHalf = 32767

	regCount = 64 // stamped registers of an address record

	userIPSlots      = 16 // a phone on a mobile network may change address many times a day
	userDeviceSlots  = 8
	userCountrySlots = 8
	addrUserSlots    = 8
	deviceUserSlots  = 8
)

// Facts is what a decision reads of its subjects' facts, as of the event and without it.
type Facts struct {
	IPUsers10m, IPUsers1h, IPUsers24h uint32 // distinct users the address was tried with
	SubnetUsers1h                     uint32
	DeviceUsers24h                    uint32
	UserIPs1h, UserIPs24h             uint32 // distinct addresses the user was tried from
	UserDevices24h, UserCountries24h  uint32
	UserAmount1h, UserAmount24h       float64
	DeviceFirstSeen                   int64  // unix seconds, to the minute; 0 when the device is new
	DeviceUA                          uint32 // the user agent the device was last seen with; 0 when none
}

// minuteOf is the minute of event time at (unix seconds).
func minuteOf(at int64) int32 {
	if at >= 0 { // an unsigned division by a constant is a multiplication, without floorDiv's corrections
		return int32(uint64(at) / 60)
	}
	return int32(floorDiv(at, 60))
}

// stampOf is the stamp of minute mn.
func stampOf(mn int32) uint16 {
	if mn >= 0 {
		return uint16(uint32(mn)%stampMod + 1)
	}
	s := int64(mn) % stampMod
	if s < 0 {
		s += stampMod
	}
	return uint16(s + 1)
}

// age is how many minutes stamp s lies before now (negative: after it).
func age(now, s uint16) int {
	d := int(now) - int(s) // both in [0, stampMod]: no modulo needed
	if d < 0 {
		d += stampMod
	}
	if d > stampHalf {
		d -= stampMod
	}
	return d
}

// slot packs a fingerprint and a stamp; 0 is an empty slot.
func slotOf(fp, st uint16) uint32 { return uint32(fp)<<16 | uint32(st) }

// Fingerprint is the part of an item's 64-bit key a stamped set keeps.
func Fingerprint(item uint64) uint16 { return uint16(item >> 48) }

// setAdd records fingerprint fp seen at stamp st: its slot is restamped, or the first empty slot, else the one
// least recently seen (the first of equals), takes it.
func setAdd(slots []uint32, fp, st uint16) {
	victim, oldest := 0, math.MinInt
	for i, v := range slots {
		if v == 0 {
			if oldest != math.MaxInt {
				victim, oldest = i, math.MaxInt
			}
			continue
		}
		if uint16(v>>16) == fp {
			if age(st, uint16(v)) > 0 {
				slots[i] = slotOf(fp, st)
			}
			return
		}
		if a := age(st, uint16(v)); a > oldest {
			victim, oldest = i, a
		}
	}
	slots[victim] = slotOf(fp, st)
}

// sweep clears the stamps older than a day as of now, in slots and registers.
func sweep(slots []uint32, regs []uint16, now uint16) {
	for i, v := range slots {
		if v != 0 && age(now, uint16(v)) >= dayMin {
			slots[i] = 0
		}
	}
	for i, v := range regs {
		if v != 0 && age(now, v) >= dayMin {
			regs[i] = 0
		}
	}
}

// since is how many minutes the stamp s (not empty) lies before now, as a number to compare with a window:
// [0, stampMod), where a stamp after now (read for a late event) is more than stampHalf, beyond every window.
// It is age without its branches: a reading compares every slot and register of a record with its windows.
func since(now, s uint16) uint32 {
	d := int32(now) - int32(s)
	return uint32(d + stampMod&(d>>31))
}

// emptyBit is beyond every window for an empty stamp (0), else 0: or-ed into since, it keeps empty registers
// out of every window without a branch.
func emptyBit(s uint16) uint32 { return uint32(int32(uint32(s)-1)>>31) & (1 << 16) }

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// seen counts the slots of a set seen within window w (minutes) as of now.
func seen(slots []uint32, now uint16, w uint32) uint32 {
	n := uint32(0)
	for _, v := range slots {
		if v != 0 { // sets are mostly empty: skipping a slot costs less than comparing it
			n += b2u(since(now, uint16(v)) < w)
		}
	}
	return n
}

// seen3 is seen for three windows at once (an unused one is 0, holding nothing). Counts are kept in locals:
// through an array each addition would wait for the one before.
func seen3(slots []uint32, now uint16, ws [3]uint32) [3]uint32 {
	w0, w1, w2 := ws[0], ws[1], ws[2]
	var c0, c1, c2 uint32
	for _, v := range slots {
		if v != 0 {
			e := since(now, uint16(v))
			c0 += b2u(e < w0)
			c1 += b2u(e < w1)
			c2 += b2u(e < w2)
		}
	}
	return [3]uint32{c0, c1, c2}
}

// setRegs counts per window (an unused one is 0) the registers set within it. Registers are read only for a
// busy address, where many are set in no order a branch could predict, so the common case compares four
// registers at once in a 64-bit word, without branches: lanes of 16 bits hold the registers' minutes since
// now, counted modulo 2^16, which is how many minutes they lie before now as long as now is at least the
// longest window (an empty register then lies now minutes back, and one after now further: both outside).
// The rare other case, a day every 45 days, compares one register at a time.
func setRegs(regs *[regCount]uint16, now uint16, ws [3]uint32) [3]uint32 {
	if uint32(now) < max(ws[0], ws[1], ws[2]) {
		return setRegsWrapped(regs, now, ws)
	}
	const (
		high = 0x8000_8000_8000_8000 // each lane's top bit
		ones = 0x0001_0001_0001_0001
	)
	n := uint64(now) * ones
	w0, w1, w2 := uint64(ws[0])*ones, uint64(ws[1])*ones, uint64(ws[2])*ones
	var c0, c1, c2 uint64 // per lane: registers within the window, at most regCount/4
	for i := 0; i < regCount; i += 4 {
		v := uint64(regs[i]) | uint64(regs[i+1])<<16 | uint64(regs[i+2])<<32 | uint64(regs[i+3])<<48
		d := ((n | high) - (v &^ high)) ^ ((n ^ ^v) & high) // now - v in each lane, modulo 2^16
		// d < w in a lane (w < 2^15): the top bit of d is clear, and (d | top bit) - w keeps it; the lane's
		// minuend is at least 2^15 > w, so no borrow crosses lanes.
		dh := d | high
		c0 += (^(d | (dh - w0)) & high) >> 15
		c1 += (^(d | (dh - w1)) & high) >> 15
		c2 += (^(d | (dh - w2)) & high) >> 15
	}
	return [3]uint32{uint32((c0 * ones) >> 48), uint32((c1 * ones) >> 48), uint32((c2 * ones) >> 48)}
}

// setRegsWrapped is setRegs while a window reaches back past stamp 1 to the top of the stamps.
func setRegsWrapped(regs *[regCount]uint16, now uint16, ws [3]uint32) [3]uint32 {
	var c [3]uint32
	for _, v := range regs {
		e := since(now, v) | emptyBit(v)
		for i, w := range ws {
			c[i] += b2u(e < w)
		}
	}
	return c
}

// linearCounts is the registers' estimate by the number of empty ones, rounded down: -64·ln(empty/64), and
// with none empty 64·ln(64), as far as linear counting reaches. Rounded down, a full set of 8 items in 8
// registers (8.55) reads 8. A table: a reading may need several, and a logarithm costs as much as the rest of
// the reading.
var linearCounts = func() (t [regCount + 1]uint32) {
	m := float64(regCount)
	t[0] = uint32(m * math.Log(m))
	for empty := 1; empty <= regCount; empty++ {
		t[empty] = uint32(-m * math.Log(float64(empty)/m))
	}
	return t
}()

// distinct reads windows (minutes, at most 3) of an address's set and registers as of minute mn: a window
// reads the set's count while the set has room in it, else the registers' estimate (at least the set's size).
// One pass over the set answers all windows, and the registers are read only when a window's set is full.
func (r *addrFacts) distinct(mn int32, windows []int, out []uint32) {
	now := stampOf(mn)
	var ws [3]uint32
	for i, w := range windows {
		ws[i] = uint32(w)
	}
	in := seen3(r.users[:], now, ws)
	const full = addrUserSlots
	copy(out, in[:])
	if max(in[0], in[1], in[2]) < full {
		return // the set alone answers
	}
	kept := r.setRegs(mn, now)
	for i, w := range ws {
		if in[i] < full {
			continue
		}
		var set uint32
		switch w {
		case tenMinutes, hourMin, dayMin:
			set = kept[regWindowIndex(w)]
		default:
			set = setRegs(&r.regs, now, [3]uint32{w})[0]
		}
		out[i] = max(in[i], linearCounts[regCount-set])
	}
}

// regWindows are the windows an address record keeps its registers' counts of (addrFacts.regsN): those the
// addresses and subnets are read over.
var regWindows = [3]uint32{tenMinutes, hourMin, dayMin}

func regWindowIndex(w uint32) int {
	switch w {
	case tenMinutes:
		return 0
	case hourMin:
		return 1
	}
	return 2
}

// setRegs is the registers set within each of regWindows as of minute mn (stamp now). A busy address, the only
// kind whose registers are read, is read many times a minute and changes few registers in one: the counts are
// kept for the minute they were made at until a register changes.
func (r *addrFacts) setRegs(mn int32, now uint16) [3]uint32 {
	if !r.regsValid || r.regsAt != mn {
		n := setRegs(&r.regs, now, regWindows)
		r.regsN = [3]uint8{uint8(n[0]), uint8(n[1]), uint8(n[2])}
		r.regsAt, r.regsValid = mn, true
	}
	return [3]uint32{uint32(r.regsN[0]), uint32(r.regsN[1]), uint32(r.regsN[2])}
}

// factsHeader starts every facts record.
type factsHeader struct {
	last int32 // the newest event minute written; 0 while the facts hold nothing
}

// held reports whether the facts hold anything: 0 is the minute of a record that never took an attempt, as in
// a contribution in Redis (redis_contrib.go).
func (h *factsHeader) held() bool { return h.last != 0 }

// touch prepares a record for a write at minute mn (stamp st): a record idle for a day is cleared, one whose
// hour changed is swept (swept reports either). latest reports whether mn is not older than the record's
// newest event.
func (h *factsHeader) touch(mn int32, st uint16, slots []uint32, regs []uint16) (latest, swept bool) {
	switch {
	case mn-h.last >= dayMin:
		clear(slots)
		clear(regs)
		swept = true
	case floorDiv(int64(mn), 60) > floorDiv(int64(h.last), 60):
		sweep(slots, regs, st)
		swept = true
	}
	if mn >= h.last {
		h.last = mn
		return true, swept
	}
	return false, swept
}

// fresh reports whether the record can hold anything for a read at minute mn: after a day without events it
// holds nothing (its stamps may no longer compare).
func (h *factsHeader) fresh(mn int32) bool { return mn-h.last < dayMin }

// userFacts is a user's record: addresses, devices and countries, and amount sums.
type userFacts struct {
	factsHeader
	amountHead [2]int32 // ring heads of the Hour and Day windows, as in velocityRecord
	slots      [userIPSlots + userDeviceSlots + userCountrySlots]uint32
	amount     [2][ringLen]float32 // [Hour, Day][bucket index mod ringLen]
}

func (r *userFacts) ips() []uint32       { return r.slots[:userIPSlots] }
func (r *userFacts) devices() []uint32   { return r.slots[userIPSlots : userIPSlots+userDeviceSlots] }
func (r *userFacts) countries() []uint32 { return r.slots[userIPSlots+userDeviceSlots:] }

// UserSighting is what an attempt adds to a user's facts; a zero item is absent.
type UserSighting struct {
	IP, Device uint64
	Country    [2]byte
	Amount     float64
	HasAmount  bool
}

func countryFP(c [2]byte) uint16 { return uint16(c[0])<<8 | uint16(c[1]) }

func (r *userFacts) init(mn int32, ix [NumWindows]int32) {
	r.last = mn
	r.amountHead = [2]int32{ix[Hour], ix[Day]}
}

func (r *userFacts) wants(Subjects) bool                         { return true }
func (r *userFacts) readFacts(_ *kindSpec, at int64, out *Facts) { r.read(at, out) }
func (r *userFacts) addFacts(s Subjects, at int64) {
	u := UserSighting{Country: s.Country, Amount: s.Amount, HasAmount: s.HasAmount}
	if s.HasIP {
		u.IP = s.IP
	}
	if s.HasDevice {
		u.Device = s.Device
	}
	r.add(at, &u)
}

func (r *userFacts) add(at int64, s *UserSighting) {
	mn, st := minuteOf(at), stampOf(minuteOf(at))
	r.touch(mn, st, r.slots[:], nil)
	if s.IP != 0 {
		setAdd(r.ips(), Fingerprint(s.IP), st)
	}
	if s.Device != 0 {
		setAdd(r.devices(), Fingerprint(s.Device), st)
	}
	if s.Country != [2]byte{} {
		setAdd(r.countries(), countryFP(s.Country), st)
	}
	if s.HasAmount {
		ix := bucketIndices(at)
		for j, w := range [2]Window{Hour, Day} {
			i, h := int64(ix[w]), int64(r.amountHead[j])
			switch {
			case i > h:
				for k := max(h+1, i-ringLen+1); k <= i; k++ {
					r.amount[j][slot(k)] = 0
				}
				r.amountHead[j] = int32(i)
			case i <= h-ringLen:
				continue
			}
			b := &r.amount[j][slot(i)]
			*b = float32(float64(*b) + s.Amount)
		}
	}
}

func (r *userFacts) read(at int64, out *Facts) {
	mn := minuteOf(at)
	if r.fresh(mn) {
		st := stampOf(mn)
		ips := seen3(r.ips(), st, [3]uint32{hourMin, dayMin})
		out.UserIPs1h, out.UserIPs24h = ips[0], ips[1]
		out.UserDevices24h = seen(r.devices(), st, dayMin)
		out.UserCountries24h = seen(r.countries(), st, dayMin)
	}
	ix := bucketIndices(at)
	for j, w := range [2]Window{Hour, Day} {
		i, h := int64(ix[w]), int64(r.amountHead[j])
		k := ringLen - max(i-h, h-i) // buckets in both the window and the ring, newest min(i, h)
		sum := 0.0
		for s := slot(min(i, h)); k > 0; k-- {
			sum += float64(r.amount[j][s])
			if s == 0 {
				s = ringLen
			}
			s--
		}
		if j == 0 {
			out.UserAmount1h = sum
		} else {
			out.UserAmount24h = sum
		}
	}
}

// addrFacts is an address's or a subnet's record: the users tried from it.
type addrFacts struct {
	factsHeader
	// The registers' counts per regWindows as of minute regsAt (setRegs); in memory only, not in the record's
	// bytes. Whatever changes a register clears regsValid. Next to the header and the set, which every read
	// reads, rather than after the registers, which a read of kept counts need not reach.
	regsAt    int32
	regsN     [3]uint8
	regsValid bool
	users     [addrUserSlots]uint32
	regs      [regCount]uint16
}

func (r *addrFacts) init(mn int32, _ [NumWindows]int32) { r.last = mn }

// An address learns only of attempts with a user.
func (r *addrFacts) wants(s Subjects) bool         { return s.HasUser }
func (r *addrFacts) addFacts(s Subjects, at int64) { r.add(at, s.User) }
func (r *addrFacts) readFacts(spec *kindSpec, at int64, out *Facts) {
	outs := spec.userCounts(out)
	r.read(at, spec.userWindows, outs[:len(spec.userWindows)])
}

func (r *addrFacts) add(at int64, user uint64) {
	mn := minuteOf(at)
	st := stampOf(mn)
	if _, swept := r.touch(mn, st, r.users[:], r.regs[:]); swept {
		r.regsValid = false
	}
	setAdd(r.users[:], Fingerprint(user), st)
	if g := &r.regs[user%regCount]; *g == 0 || age(st, *g) > 0 {
		*g = st
		r.regsValid = false
	}
}

// read fills the counts of the windows asked for (minutes, at most 3) into outs.
func (r *addrFacts) read(at int64, windows []int, outs []*uint32) {
	mn := minuteOf(at)
	if !r.fresh(mn) {
		return
	}
	var n [3]uint32
	r.distinct(mn, windows, n[:len(windows)])
	for i, o := range outs {
		*o = n[i]
	}
}

// deviceFacts is a device's record: when it was first seen, its last user agent and its users.
type deviceFacts struct {
	factsHeader
	first int32  // minute first seen, by any user
	ua    uint32 // user agent last seen with (0: none yet)
	users [deviceUserSlots]uint32
}

func (r *deviceFacts) init(mn int32, _ [NumWindows]int32) { r.last, r.first = mn, mn }

// DeviceSighting is what an attempt adds to a device's facts; zero values are absent.
type DeviceSighting struct {
	User uint64
	UA   uint32 // hash of the user agent's browser family and OS
}

func (r *deviceFacts) wants(Subjects) bool                         { return true }
func (r *deviceFacts) readFacts(_ *kindSpec, at int64, out *Facts) { r.read(at, out) }
func (r *deviceFacts) addFacts(s Subjects, at int64) {
	d := DeviceSighting{UA: s.UA}
	if s.HasUser {
		d.User = s.User
	}
	r.add(at, &d)
}

func (r *deviceFacts) add(at int64, s *DeviceSighting) {
	mn := minuteOf(at)
	st := stampOf(mn)
	latest, _ := r.touch(mn, st, r.users[:], nil)
	r.first = min(r.first, mn)
	if s.User != 0 {
		setAdd(r.users[:], Fingerprint(s.User), st)
	}
	if s.UA != 0 && latest {
		r.ua = s.UA // an older event does not say what the device uses now
	}
}

func (r *deviceFacts) read(at int64, out *Facts) {
	out.DeviceFirstSeen = int64(r.first) * 60
	out.DeviceUA = r.ua
	if mn := minuteOf(at); r.fresh(mn) {
		out.DeviceUsers24h = seen(r.users[:], stampOf(mn), dayMin)
	}
}

// Record sizes, without the subject's key (subjectRecord holds it).
const (
	_ = uint(188 - unsafe.Sizeof(userFacts{}))
	_ = uint(172 - unsafe.Sizeof(addrFacts{}))
	_ = uint(44 - unsafe.Sizeof(deviceFacts{}))
)
