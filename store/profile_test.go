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
	p.TrustDevice(100, 1) // oldest, but trusted
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
	p.TrustDevice(2, 2)
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
