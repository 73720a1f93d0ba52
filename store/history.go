package store

import "math"

// Bounds of a History: 236 bytes, which bring a Profile to 672 (TestProfileIsSmall holds it under 1 KiB).
const (
	MaxHabits     = 6 // values kept per HabitKind
	HourBins      = 6 // bins of four hours, UTC
	DeviceClasses = 4 // ProfileOp.Class values 1..DeviceClasses
)

// HabitKind names a list of a History.
type HabitKind uint8

// The habits a History keeps a bounded list of, each value as a 32-bit key.
const (
	HabitNetwork HabitKind = iota // ProfileOp.Network: keyed hash of the /24 or /64, never the address
	HabitASN                      // Place.ASN
	HabitCity                     // Place.CityID (GeoNames id)
	HabitAgent                    // ProfileOp.Agent: hash of browser family and OS
	NumHabitKinds
)

// Habit is one value the user's logins showed, how often and when last. Eight bytes: counts saturate, and a day
// is precision enough for a retention counted in months.
type Habit struct {
	Key    uint32
	Logins uint16 // saturating
	Day    uint16 // last seen: days since 1970-01-01, event time
}

// Bin counts the logins of one hour bin or device class.
type Bin struct {
	Logins uint16 // saturating; 0 = never (then Day is 0)
	Day    uint16 // last seen, as Habit.Day
}

// History is the user's habits, learned from the same confirmed logins as the rest of the profile: a bounded
// frequency table per HabitKind, and counts per hour bin and device class. It holds what a familiarity score
// needs (how often each value was seen, out of how many logins) in fixed memory. When a list is full the least
// valuable entry makes room: the fewest logins, halved for every 30 days since it was last seen, so a user
// who moves or changes provider replaces stale habits while a burst of new values churns one slot instead of
// flushing the old ones. Counts expire with their value or bin: one last seen within the retention keeps its
// whole count, so Logins is the logins behind the habits still held, not exactly those of the retention period.
type History struct {
	NumHabits [NumHabitKinds]uint8
	Habits    [NumHabitKinds][MaxHabits]Habit
	Hours     [HourBins]Bin
	Classes   [DeviceClasses]Bin
}

// List returns the entries of kind k in use.
func (h *History) List(k HabitKind) []Habit { return h.Habits[k][:h.NumHabits[k]] }

// Seen returns the logins of kind k that showed key and the logins the list counts in all; key 0 (unknown)
// was never seen.
func (h *History) Seen(k HabitKind, key uint32) (logins, total int) {
	for _, e := range h.List(k) {
		total += int(e.Logins)
		if e.Key == key && key != 0 {
			logins = int(e.Logins)
		}
	}
	return logins, total
}

// Logins returns the logins the history holds: each one counted in exactly one hour bin.
func (h *History) Logins() int {
	n := 0
	for _, b := range h.Hours {
		n += int(b.Logins)
	}
	return n
}

// Empty reports whether the history holds nothing.
func (h *History) Empty() bool { return *h == History{} }

// HourBin returns the hour bin of an event time (unix seconds).
func HourBin(at int64) int {
	s := at % 86400
	if s < 0 {
		s += 86400
	}
	return int(s / 3600 / (24 / HourBins))
}

// DayOf returns the day number of an event time (unix seconds) as a History stores it.
func DayOf(at int64) uint16 {
	return uint16(min(max(at/86400, 0), math.MaxUint16))
}

// see records a confirmed login.
func (h *History) see(op *ProfileOp) {
	day := DayOf(op.At)
	h.seeHabit(HabitNetwork, op.Network, day)
	h.seeHabit(HabitASN, op.Place.ASN, day)
	h.seeHabit(HabitCity, op.Place.CityID, day)
	h.seeHabit(HabitAgent, op.Agent, day)
	h.Hours[HourBin(op.At)].see(day)
	if op.Class >= 1 && op.Class <= DeviceClasses {
		h.Classes[op.Class-1].see(day)
	}
}

func (b *Bin) see(day uint16) {
	if b.Logins < math.MaxUint16 {
		b.Logins++
	}
	b.Day = max(b.Day, day)
}

func (h *History) seeHabit(k HabitKind, key uint32, day uint16) {
	if key == 0 {
		return
	}
	list := &h.Habits[k]
	n := int(h.NumHabits[k])
	for i := range n {
		if e := &list[i]; e.Key == key {
			if e.Logins < math.MaxUint16 {
				e.Logins++
			}
			e.Day = max(e.Day, day)
			return
		}
	}
	i := n
	if n == MaxHabits {
		i = leastValuable(list[:], day)
	} else {
		h.NumHabits[k]++
	}
	list[i] = Habit{Key: key, Logins: 1, Day: day}
}

// leastValuable returns the index of the entry to replace at day: the fewest logins once halved for every 30
// days unseen, and among equals the one seen longest ago.
func leastValuable(list []Habit, day uint16) int {
	victim, vv := 0, uint16(math.MaxUint16)
	for i := range list {
		e := &list[i]
		age := 0
		if day > e.Day {
			age = int(day-e.Day) / 30
		}
		v := e.Logins >> min(age, 15)
		if v < vv || (v == vv && e.Day < list[victim].Day) {
			victim, vv = i, v
		}
	}
	return victim
}

// expire drops what was last seen on a day that began before cutoff and reports whether anything went.
func (h *History) expire(cutoff int64) bool {
	old := func(day uint16) bool { return int64(day)*86400 < cutoff }
	changed := false
	for k := range NumHabitKinds {
		list := &h.Habits[k]
		for i := int(h.NumHabits[k]) - 1; i >= 0; i-- {
			if old(list[i].Day) {
				n := int(h.NumHabits[k]) - 1
				list[i] = list[n]
				list[n] = Habit{}
				h.NumHabits[k]--
				changed = true
			}
		}
	}
	for _, bins := range [][]Bin{h.Hours[:], h.Classes[:]} {
		for i := range bins {
			if bins[i].Logins != 0 && old(bins[i].Day) {
				bins[i] = Bin{}
				changed = true
			}
		}
	}
	return changed
}
