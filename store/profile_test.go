package store

import (
	"sync"
	"testing"
	"unsafe"
)

func TestProfileIsSmall(t *testing.T) {
	if n := unsafe.Sizeof(Profile{}); n > 1024 {
		t.Fatalf("Profile is %d bytes, want <= 1 KiB", n)
	}
}

func TestSeeDeviceBoundedAndEvictsStaleUntrustedFirst(t *testing.T) {
	var p Profile
	p.TrustDevice(100, 1, 0) // oldest, but trusted
	for k := uint64(1); k < MaxDevices; k++ {
		p.SeeDevice(k, int64(10+k))
	}
	if p.NumDevices != MaxDevices {
		t.Fatalf("NumDevices = %d", p.NumDevices)
	}
	p.SeeDevice(999, 100)
	if p.NumDevices != MaxDevices {
		t.Fatalf("NumDevices = %d after overflow", p.NumDevices)
	}
	if p.Device(100) < 0 {
		t.Fatal("the trusted device was evicted before untrusted ones")
	}
	if p.Device(1) >= 0 {
		t.Fatal("the stalest untrusted device (1) should have made room")
	}
	if p.Device(999) < 0 {
		t.Fatal("the new device is missing")
	}
}

func TestSeeDeviceKeepsTimesMonotonic(t *testing.T) {
	var p Profile
	p.SeeDevice(7, 50)
	p.SeeDevice(7, 20) // a late, older event
	p.SeeDevice(7, 40)
	d := p.Devices[p.Device(7)]
	if d.FirstSeen != 20 || d.LastSeen != 50 {
		t.Fatalf("first %d last %d, want 20 50", d.FirstSeen, d.LastSeen)
	}
}

func TestSeeCountryBounded(t *testing.T) {
	var p Profile
	codes := []string{"US", "GB", "SE", "CN", "FR", "DE", "NL", "AU", "JP"}
	for i, c := range codes {
		p.SeeCountry([2]byte{c[0], c[1]}, int64(i+1))
	}
	if p.NumCountries != MaxCountries {
		t.Fatalf("NumCountries = %d", p.NumCountries)
	}
	if p.Country([2]byte{'U', 'S'}) >= 0 || p.Country([2]byte{'J', 'P'}) < 0 {
		t.Fatal("the least recently seen country should have made room for the newest")
	}
}

func TestForgetDevice(t *testing.T) {
	var p Profile
	p.SeeDevice(1, 1)
	p.TrustDevice(2, 2, 0)
	p.SeeDevice(3, 3)
	p.ForgetDevice(2)
	p.ForgetDevice(42)
	if p.NumDevices != 2 || p.Device(2) >= 0 || p.Device(1) < 0 || p.Device(3) < 0 {
		t.Fatalf("after forgetting 2: %+v", p.Devices[:p.NumDevices])
	}
}

func TestProfilesConcurrentUpdates(t *testing.T) {
	ps := NewProfiles()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				ps.Update(uint64(i%10), func(p *Profile) { p.Logins++ })
				var out Profile
				ps.Get(uint64(g), &out)
			}
		}()
	}
	wg.Wait()
	var total uint32
	for k := range uint64(10) {
		var p Profile
		if !ps.Get(k, &p) {
			t.Fatalf("profile %d missing", k)
		}
		total += p.Logins
	}
	if total != 8000 || ps.Len() != 10 {
		t.Fatalf("total logins %d (want 8000), profiles %d", total, ps.Len())
	}
	if !ps.Delete(3) || ps.Delete(3) || ps.Len() != 9 {
		t.Fatal("Delete")
	}
}

func TestApplyLearnsLikeRiskdDid(t *testing.T) {
	var p Profile
	us := Place{Country: [2]byte{'U', 'S'}, Lat: 47, Lon: -122, HasLocation: true, CityID: 5}
	p.Apply(&ProfileOp{Kind: OpLogin, At: 100, Device: 1, HasDevice: true, Place: us})
	p.Apply(&ProfileOp{Kind: OpTrust, At: 200, Device: 2, HasDevice: true, Place: us})
	// A late, older event counts but does not move the last login back, nor the first seen forward.
	late := us
	late.CityID = 9
	p.Apply(&ProfileOp{Kind: OpLogin, At: 50, Device: 1, HasDevice: true, Place: late})
	if p.Created != 50 || p.Logins != 3 || p.NumDevices != 2 || p.Last.At != 200 || p.Last.CityID != 5 {
		t.Fatalf("after logins: %+v", p)
	}
	if i := p.Device(2); i < 0 || p.Devices[i].TrustedAt != 200 {
		t.Fatal("mfa_passed did not trust the device")
	}
	if c := p.Countries[p.Country([2]byte{'U', 'S'})]; c.Logins != 3 || c.LastSeen != 200 {
		t.Fatalf("country: %+v", c)
	}
	p.Apply(&ProfileOp{Kind: OpForgetDevice, At: 300, Device: 2, HasDevice: true})
	p.Apply(&ProfileOp{Kind: OpSetMFA, At: 400, MFA: 3})
	if p.Device(2) >= 0 || p.MFAPreference != 3 || p.Created != 50 {
		t.Fatalf("forget, preference: %+v", p)
	}
	if (&ProfileOp{Kind: OpForgetDevice}).Creates() {
		t.Fatal("forgetting a device must not create a profile")
	}
}

func TestExpireDropsOldEntries(t *testing.T) {
	var p Profile
	se := Place{Country: [2]byte{'S', 'E'}}
	us := Place{Country: [2]byte{'U', 'S'}}
	p.Apply(&ProfileOp{Kind: OpTrust, At: 100, Device: 1, HasDevice: true, Place: se})
	p.Apply(&ProfileOp{Kind: OpLogin, At: 1000, Device: 2, HasDevice: true, Place: us})
	changed, empty := p.Expire(500)
	if !changed || empty || p.Device(1) >= 0 || p.Device(2) < 0 || p.Country(se.Country) >= 0 || p.Last.At != 1000 {
		t.Fatalf("cutoff 500: changed %v empty %v %+v", changed, empty, p)
	}
	if changed, _ := p.Expire(500); changed {
		t.Fatal("a second pass changed something")
	}
	// Past every entry: the user is new again; with a preference the profile stays for it.
	p.Apply(&ProfileOp{Kind: OpSetMFA, At: 1000, MFA: 2})
	changed, empty = p.Expire(2000)
	if !changed || empty || p.Logins != 0 || p.Created != 0 || p.NumDevices != 0 || p.MFAPreference != 2 {
		t.Fatalf("cutoff 2000: changed %v empty %v %+v", changed, empty, p)
	}
	p.MFAPreference = 0
	if _, empty := p.Expire(2000); !empty {
		t.Fatal("a profile with nothing left is not empty")
	}
}

func TestDrainReturnsEachChangeOnce(t *testing.T) {
	ps := NewProfiles()
	notify := make(chan struct{}, 1)
	ps.Track(notify)
	op := ProfileOp{Kind: OpLogin, At: 10}
	ps.Apply(1, op)
	ps.Apply(1, op)
	ps.Apply(2, op)
	ps.Delete(2)
	ps.Delete(3) // unknown: still a deletion to write, erasure must reach the disk whatever memory says
	ps.Apply(4, ProfileOp{Kind: OpForgetDevice, HasDevice: true, Device: 9})
	select {
	case <-notify:
	default:
		t.Fatal("no notification")
	}
	got := map[uint64]Change{}
	for _, c := range ps.Drain(nil) {
		if _, dup := got[c.Key]; dup && !c.Deleted {
			t.Fatalf("key %d drained twice", c.Key)
		}
		got[c.Key] = c
	}
	if len(got) != 3 || got[1].Deleted || got[1].Profile.Logins != 2 || !got[2].Deleted || !got[3].Deleted {
		t.Fatalf("drained %+v", got)
	}
	if n := len(ps.Drain(nil)); n != 0 {
		t.Fatalf("%d changes drained twice", n)
	}
	ps.MarkChanged([]uint64{1})
	if c := ps.Drain(nil); len(c) != 1 || c[0].Key != 1 {
		t.Fatalf("after MarkChanged: %+v", c)
	}
}

func TestHistoryLearnsFromLogins(t *testing.T) {
	var p Profile
	at := int64(1_700_000_000) // 22:13 UTC: hour bin 5
	op := ProfileOp{Kind: OpLogin, At: at, Network: 11, Agent: 22, Class: 2, Place: Place{ASN: 33, CityID: 44}}
	p.Apply(&op)
	p.Apply(&op)
	op.Kind, op.At, op.Network, op.Class = OpTrust, at+6*3600, 12, 0 // 04:13 the next day: bin 1
	p.Apply(&op)
	h := &p.History
	if c, n := h.Seen(HabitNetwork, 11); c != 2 || n != 3 {
		t.Fatalf("network 11: %d of %d", c, n)
	}
	if c, n := h.Seen(HabitASN, 33); c != 3 || n != 3 {
		t.Fatalf("asn: %d of %d", c, n)
	}
	if c, _ := h.Seen(HabitCity, 45); c != 0 {
		t.Fatal("an unseen city has logins")
	}
	if c, _ := h.Seen(HabitAgent, 0); c != 0 {
		t.Fatal("the unknown agent has logins")
	}
	if h.Logins() != 3 || h.Hours[5].Logins != 2 || h.Hours[1].Logins != 1 || h.Classes[1].Logins != 2 {
		t.Fatalf("bins: %+v", h)
	}
	if h.Hours[1].Day != DayOf(at+6*3600) || h.Hours[5].Day != DayOf(at) {
		t.Fatalf("days: %+v", h.Hours)
	}
	// Unknown habits (zero) teach nothing but the hour.
	p.Apply(&ProfileOp{Kind: OpLogin, At: at})
	if _, n := h.Seen(HabitNetwork, 11); n != 3 || h.Logins() != 4 {
		t.Fatalf("an unknown network counted: %+v", h)
	}
	// Neither a forgotten device nor a preference is a login.
	p.Apply(&ProfileOp{Kind: OpForgetDevice, At: at, Network: 11, HasDevice: true, Device: 1})
	p.Apply(&ProfileOp{Kind: OpSetMFA, At: at, MFA: 1, Network: 11})
	if h.Logins() != 4 {
		t.Fatalf("non-logins counted: %d", h.Logins())
	}
}

func TestHistoryReplacesLeastValuable(t *testing.T) {
	var h History
	day := uint16(20_000)
	// A habit of many logins, long unseen, and fresh ones of a few.
	for range 40 {
		h.seeHabit(HabitNetwork, 1, day-200)
	}
	for k := uint32(2); k <= MaxHabits; k++ {
		for range k {
			h.seeHabit(HabitNetwork, k, day)
		}
	}
	h.seeHabit(HabitNetwork, 100, day)
	// 40 logins halved for 6 periods of 30 days weigh 0: the stale habit goes, not the fresh one of 2 logins.
	if c, _ := h.Seen(HabitNetwork, 1); c != 0 {
		t.Fatal("the stale habit stayed")
	}
	if c, _ := h.Seen(HabitNetwork, 2); c != 2 {
		t.Fatal("a fresh habit went before a stale one")
	}
	// A burst of new values churns one slot: the established habits stay.
	for k := uint32(200); k < 220; k++ {
		h.seeHabit(HabitNetwork, k, day+1)
	}
	for k := uint32(2); k <= MaxHabits; k++ {
		if c, _ := h.Seen(HabitNetwork, k); c != int(k) {
			t.Fatalf("habit %d: %d logins after a burst of new values", k, c)
		}
	}
	if c, _ := h.Seen(HabitNetwork, 219); c != 1 || h.NumHabits[HabitNetwork] != MaxHabits {
		t.Fatalf("the newest value is missing or the list overflowed: %+v", h.List(HabitNetwork))
	}
}

func TestHistoryCountsSaturate(t *testing.T) {
	var h History
	h.Hours[0].Logins = 65534
	h.Habits[HabitASN][0] = Habit{Key: 9, Logins: 65535}
	h.NumHabits[HabitASN] = 1
	for range 3 {
		h.see(&ProfileOp{At: 60, Place: Place{ASN: 9}})
	}
	if h.Hours[0].Logins != 65535 || h.Habits[HabitASN][0].Logins != 65535 {
		t.Fatalf("counts wrapped: %+v %+v", h.Hours[0], h.Habits[HabitASN][0])
	}
}

func TestExpireDropsOldHabits(t *testing.T) {
	var p Profile
	const day = 86400
	old := ProfileOp{Kind: OpLogin, At: 100*day + 3600, Network: 1, Agent: 2, Class: 1, Place: Place{ASN: 3, CityID: 4, Country: [2]byte{'S', 'E'}}}
	recent := ProfileOp{Kind: OpLogin, At: 200*day + 13*3600, Network: 5, Agent: 2, Class: 2, Place: Place{ASN: 3, Country: [2]byte{'S', 'E'}}}
	p.Apply(&old)
	p.Apply(&recent)
	changed, empty := p.Expire(150 * day)
	h := &p.History
	if !changed || empty {
		t.Fatalf("changed %v empty %v", changed, empty)
	}
	if c, _ := h.Seen(HabitNetwork, 1); c != 0 {
		t.Fatal("the old network stayed")
	}
	if c, _ := h.Seen(HabitCity, 4); c != 0 {
		t.Fatal("the old city stayed")
	}
	if c, _ := h.Seen(HabitASN, 3); c != 2 {
		t.Fatal("a habit seen recently went") // last seen on day 200
	}
	if h.Classes[0] != (Bin{}) || h.Classes[1].Logins != 1 || h.Hours[HourBin(old.At)] != (Bin{}) || h.Logins() != 1 {
		t.Fatalf("bins: %+v", h)
	}
	if changed, _ := p.Expire(150 * day); changed {
		t.Fatal("a second pass changed something")
	}
	// A cutoff within day 200: that day began before it, so its habits go (none outlives the retention),
	// though the last login, kept to the second, stays.
	p.Expire(200*day + 1)
	if !h.Empty() || p.Last.At == 0 {
		t.Fatalf("cutoff within the last day: %+v", p)
	}
	if _, empty := p.Expire(201 * day); !empty || p.Logins != 0 {
		t.Fatalf("nothing left: %+v", p)
	}
}

func TestHourBin(t *testing.T) {
	for _, c := range []struct {
		at  int64
		bin int
	}{{0, 0}, {4*3600 - 1, 0}, {4 * 3600, 1}, {86400 - 1, HourBins - 1}, {-1, HourBins - 1}, {1_700_000_000, 5}} {
		if b := HourBin(c.at); b != c.bin {
			t.Errorf("HourBin(%d) = %d, want %d", c.at, b, c.bin)
		}
	}
	if DayOf(-5) != 0 || DayOf(1<<40) != 65535 || DayOf(86400*3+5) != 3 {
		t.Fatal("DayOf does not clamp")
	}
}
