package store

import (
	"math"
	"unsafe"
)

// Facts are what an attempt leaves besides its counters: which users, addresses, devices and countries it
// joined (distinct counts), the user's amounts (sums) and when a device was first seen and with which user
// agent. They are kept per subject in records of fixed size, in tables bounded and evicted as the velocity
// tables are (table.go), so a spray of keys costs no more memory than the bound.
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
// A stamp is the minute (unix seconds / 60) modulo 65535, plus one so that 0 means empty. Stamps compare by
// their difference modulo 65535, which is right while ages stay within ±22 days; a record whose hour changes
// clears the stamps older than a day, and one untouched for a day is cleared whole, so they always do.
//
// Everything written here is also written by factsScript (redis_facts.go) on the same layout; reads decode
// the bytes and read them with this code, so both backends read alike.

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
func minuteOf(at int64) int32 { return int32(floorDiv(at, 60)) }

// stampOf is the stamp of minute mn.
func stampOf(mn int32) uint16 {
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

// distinct reads a window: the set's count while it has room, else the registers' estimate (at least the set's
// size); without registers, the set's count.
func distinct(slots []uint32, regs []uint16, now uint16, window int) uint32 {
	var n [1]uint32
	distinctAll(slots, regs, now, []int{window}, n[:])
	return n[0]
}

// distinctAll reads several windows (minutes, at most 3, shortest first) in one pass over the slots and
// registers (an address reads three).
func distinctAll(slots []uint32, regs []uint16, now uint16, windows []int, out []uint32) {
	var in, set [3]int // per window: slots seen within it, registers set within it
	for _, v := range slots {
		if v == 0 {
			continue
		}
		if a := age(now, uint16(v)); a >= 0 {
			for i, w := range windows {
				if a < w {
					in[i]++
				}
			}
		}
	}
	full := false
	for i := range windows {
		out[i] = uint32(in[i])
		full = full || in[i] == len(slots)
	}
	if !full || len(regs) == 0 {
		return
	}
	// Windows come shortest first: count each register in the shortest window holding it, then accumulate.
	last := windows[len(windows)-1]
	for _, v := range regs {
		if v == 0 {
			continue
		}
		if a := age(now, v); a >= 0 && a < last {
			i := 0
			for a >= windows[i] {
				i++
			}
			set[i]++
		}
	}
	for i := 1; i < len(windows); i++ {
		set[i] += set[i-1]
	}
	m := float64(len(regs))
	for i := range windows {
		if in[i] < len(slots) {
			continue
		}
		est := m * math.Log(m) // every register set: as far as linear counting reaches
		if empty := len(regs) - set[i]; empty > 0 {
			est = -m * math.Log(float64(empty)/m)
		}
		// Rounded down: a full set of 8 items in 8 registers estimates 8.55, and must read 8.
		out[i] = max(out[i], uint32(est))
	}
}

// factsHeader starts every facts record.
type factsHeader struct {
	key  uint64
	last int32 // the newest event minute written; evictions take the smallest first
}

func (h *factsHeader) header() *factsHeader { return h }

// touch prepares a record for a write at minute mn (stamp st): a record idle for a day is cleared, one whose
// hour changed is swept. It reports whether mn is not older than the record's newest event.
func (h *factsHeader) touch(mn int32, st uint16, slots []uint32, regs []uint16) bool {
	switch {
	case mn-h.last >= dayMin:
		clear(slots)
		clear(regs)
	case floorDiv(int64(mn), 60) > floorDiv(int64(h.last), 60):
		sweep(slots, regs, st)
	}
	if mn >= h.last {
		h.last = mn
		return true
	}
	return false
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
		out.UserIPs1h = distinct(r.ips(), nil, st, hourMin)
		out.UserIPs24h = distinct(r.ips(), nil, st, dayMin)
		out.UserDevices24h = distinct(r.devices(), nil, st, dayMin)
		out.UserCountries24h = distinct(r.countries(), nil, st, dayMin)
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
	users [addrUserSlots]uint32
	regs  [regCount]uint16
}

func (r *addrFacts) init(mn int32, _ [NumWindows]int32) { r.last = mn }

func (r *addrFacts) add(at int64, user uint64) {
	mn := minuteOf(at)
	st := stampOf(mn)
	r.touch(mn, st, r.users[:], r.regs[:])
	setAdd(r.users[:], Fingerprint(user), st)
	if g := &r.regs[user%regCount]; *g == 0 || age(st, *g) > 0 {
		*g = st
	}
}

// read fills the counts of the windows asked for (minutes, at most 3) into outs.
func (r *addrFacts) read(at int64, windows []int, outs []*uint32) {
	mn := minuteOf(at)
	if !r.fresh(mn) {
		return
	}
	var n [3]uint32
	distinctAll(r.users[:], r.regs[:], stampOf(mn), windows, n[:len(windows)])
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

func (r *deviceFacts) add(at int64, s *DeviceSighting) {
	mn := minuteOf(at)
	st := stampOf(mn)
	latest := r.touch(mn, st, r.users[:], nil)
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
		out.DeviceUsers24h = distinct(r.users[:], nil, stampOf(mn), dayMin)
	}
}

// Record sizes: each is within the 256 bytes a key may cost, map entry and eviction sample included
// (TestFactsBytesPerKey).
const (
	_ = uint(200 - unsafe.Sizeof(userFacts{}))
	_ = uint(176 - unsafe.Sizeof(addrFacts{}))
	_ = uint(56 - unsafe.Sizeof(deviceFacts{}))
)
