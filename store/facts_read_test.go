package store

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refDistinct is a window's distinct count as the facts' documentation defines it, read one window at a time
// with age and the logarithm: the set's slots seen within the window; when they fill the set, at least the
// registers' linear-counting estimate, rounded down.
func refDistinct(slots []uint32, regs []uint16, now uint16, w int) uint32 {
	in := 0
	for _, v := range slots {
		if a := age(now, uint16(v)); v != 0 && a >= 0 && a < w {
			in++
		}
	}
	if in < len(slots) || regs == nil {
		return uint32(in)
	}
	set := 0
	for _, v := range regs {
		if a := age(now, v); v != 0 && a >= 0 && a < w {
			set++
		}
	}
	m := float64(len(regs))
	est := m * math.Log(m)
	if empty := len(regs) - set; empty > 0 {
		est = -m * math.Log(float64(empty)/m)
	}
	return max(uint32(in), uint32(est))
}

// randomStamp is a stamp of a record read at now: mostly within a day before it, some empty, some a little
// after it (a late event's read), some anywhere; or, when busy, all within the last few minutes.
func randomStamp(rng *rand.Rand, now uint16, busy bool) uint16 {
	if busy {
		return stampOf(int32(now) - 1 - int32(rng.IntN(12)))
	}
	switch x := rng.IntN(20); {
	case x < 3:
		return 0
	case x < 4:
		return stampOf(int32(rng.IntN(stampMod)))
	case x < 6:
		return stampOf(int32(now) - 1 + int32(rng.IntN(90)))
	default:
		return stampOf(int32(now) - 1 - int32(rng.IntN(1500)))
	}
}

// TestDistinctMatchesDefinition: the one-pass reading (seen3, the registers four at a time, the estimate
// table, the kept counts) reads every window as refDistinct does, for stamps of all ages around every now, the wrap of the
// stamps included, sets empty, partly and wholly filled, and registers from none to all set.
func TestDistinctMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	windows := []int{tenMinutes, hourMin, dayMin}
	var r addrFacts
	for mn := range int32(stampMod) { // every stamp
		now := stampOf(mn)
		sparse := rng.IntN(2) == 0 // else the set is full, but for stamps out of the windows
		busy := rng.IntN(3) == 0   // every item and register of the last few minutes
		for i := range r.users {
			st := randomStamp(rng, now, busy)
			for !sparse && st == 0 {
				st = randomStamp(rng, now, busy)
			}
			r.users[i] = 0
			if st != 0 { // a slot is empty whole, or has a stamp
				r.users[i] = slotOf(uint16(rng.Uint32()), st)
			}
		}
		fill := rng.IntN(regCount + 1) // registers set: from none to all
		if busy {
			fill = regCount - rng.IntN(3)
		}
		for i := range r.regs {
			r.regs[i] = 0
			if rng.IntN(regCount) < fill {
				r.regs[i] = randomStamp(rng, now, busy)
			}
		}
		r.regsValid = false
		var got [3]uint32
		r.distinct(mn, windows, got[:])
		for i, w := range windows {
			if want := refDistinct(r.users[:], r.regs[:], now, w); got[i] != want {
				t.Fatalf("now %d, %d-minute window: read %d, want %d\nusers %v\nregs %v", now, w, got[i], want, r.users, r.regs)
			}
		}
		var sub [1]uint32
		r.distinct(mn, windows[1:2], sub[:])
		if want := refDistinct(r.users[:], r.regs[:], now, hourMin); sub[0] != want {
			t.Fatalf("now %d, the hour alone: read %d, want %d", now, sub[0], want)
		}
		if got, want := seen(r.users[:], now, dayMin), refDistinct(r.users[:], nil, now, dayMin); got != want {
			t.Fatalf("now %d, set alone: read %d, want %d", now, got, want)
		}
	}
}

// TestSetRegsBothWays: the registers read four at a time and one at a time count alike wherever both apply.
func TestSetRegsBothWays(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var regs [regCount]uint16
	for range 20000 {
		now := uint16(dayMin + rng.IntN(stampMod-dayMin+1))
		for i := range regs {
			regs[i] = randomStamp(rng, now, false)
		}
		ws := [3]uint32{uint32(rng.IntN(dayMin + 1)), hourMin, dayMin}
		if a, b := setRegs(&regs, now, ws), setRegsWrapped(&regs, now, ws); a != b {
			t.Fatalf("now %d, windows %v: %v four at a time, %v one at a time", now, ws, a, b)
		}
	}
}

// TestKeptRegisterCounts: an address record that keeps its registers' counts between reads reads as one that
// counts them afresh, through a stream of attempts (busy minutes, late events, idle hours and days) and reads
// (of the present, of the past, of the hour alone).
func TestKeptRegisterCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var r addrFacts
	r.init(minuteOf(t0), [NumWindows]int32{})
	at := int64(t0)
	kept := 0
	for i := range 200000 {
		switch x := rng.IntN(1000); {
		case x < 900:
			at += rng.Int64N(3)
		case x < 995:
			at += rng.Int64N(600)
		default:
			at += rng.Int64N(2 * 86400)
		}
		ev := at
		if rng.IntN(20) == 0 {
			ev -= rng.Int64N(3 * 86400) // a late event
		}
		if rng.IntN(3) != 0 {
			r.add(ev, mix(uint64(rng.IntN(300))))
			continue
		}
		windows := []int{tenMinutes, hourMin, dayMin}
		if rng.IntN(2) == 0 {
			windows = windows[1:2]
		}
		var got, want [3]uint32
		outs := []*uint32{&got[0], &got[1], &got[2]}
		if r.regsValid && r.regsAt == minuteOf(ev) {
			kept++
		}
		r.read(ev, windows, outs[:len(windows)])
		fresh := r
		fresh.regsValid = false
		fresh.read(ev, windows, []*uint32{&want[0], &want[1], &want[2]}[:len(windows)])
		if got != want {
			t.Fatalf("read %d at %+ds: %v with kept counts, %v afresh", i, ev-at, got, want)
		}
	}
	if kept < 1000 {
		t.Fatalf("only %d reads used kept counts: the test does not test them", kept)
	}
}

// TestMinutesAndStamps: the shortcuts for times after 1970 agree with floor division, on both sides of 0.
func TestMinutesAndStamps(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 100000 {
		at := rng.Int64N(1<<37) - 1<<36 // ±2000 years: minutes fit an int32
		if rng.IntN(2) == 0 {
			at = rng.Int64N(1000) - 500
		}
		mn := minuteOf(at)
		if want := floorDiv(at, 60); int64(mn) != want {
			t.Fatalf("minuteOf(%d) = %d, want %d", at, mn, want)
		}
		if want := uint16(((int64(mn)%stampMod)+stampMod)%stampMod + 1); stampOf(mn) != want {
			t.Fatalf("stampOf(%d) = %d, want %d", mn, stampOf(mn), want)
		}
	}
}
