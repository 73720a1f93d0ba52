package store

import (
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// The subjects of TestExportShowsHistoryAndFacts: the user exported and erased, another user, its items.
const (
	exportUser  = 0x5eed0000c0ffee01
	exportOther = 0x5eed0000c0ffee02
	exportIP1   = 0xa1a2a3a4a5a6a7a8
	exportIP2   = 0xb1b2b3b4b5b6b7b8
	exportDev   = 0xd1d2d3d4d5d6d7d8
)

// exportActivity gives a user two attempts (two addresses, one device, two countries, two amounts) and one
// confirmed login with its habits; another user gets an attempt too.
func exportActivity(s State, at int64) {
	var r Reading
	s.Observe(Subjects{User: exportUser, HasUser: true, IP: exportIP1, HasIP: true, Device: exportDev, HasDevice: true,
		Country: [2]byte{'S', 'E'}, Amount: 12.5, HasAmount: true}, at, SetOf(Attempts), &r)
	s.Observe(Subjects{User: exportUser, HasUser: true, IP: exportIP2, HasIP: true, Device: exportDev, HasDevice: true,
		Country: [2]byte{'U', 'S'}, Amount: 7.5, HasAmount: true}, at+120, SetOf(Attempts), &r)
	s.Apply(exportUser, ProfileOp{Kind: OpLogin, At: at + 120, Device: exportDev, HasDevice: true,
		Place: Place{Country: [2]byte{'U', 'S'}, CityID: 5803556, ASN: 209}, Network: 0xfeed, Agent: 0xbeef, Class: 2})
	s.Observe(Subjects{User: exportOther, HasUser: true, IP: exportIP1, HasIP: true, Country: [2]byte{'S', 'E'}}, at, SetOf(Attempts), &r)
	s.Apply(exportOther, ProfileOp{Kind: OpLogin, At: at, Network: 0xfeed})
}

// checkExport fails unless u is what exportActivity left, read an hour and a half later.
func checkExport(t *testing.T, u *UserData, at int64) {
	t.Helper()
	h := &u.Profile.History
	if !u.HasProfile || h.Logins() != 1 || len(h.List(HabitNetwork)) != 1 || h.List(HabitNetwork)[0].Key != 0xfeed ||
		len(h.List(HabitASN)) != 1 || h.List(HabitCity)[0].Key != 5803556 || h.List(HabitAgent)[0].Key != 0xbeef ||
		h.Classes[1].Logins != 1 || h.Hours[HourBin(at+120)].Logins != 1 {
		t.Fatalf("history: has profile %v, %+v", u.HasProfile, *h)
	}
	if u.Velocity[Attempts][Day] != 2 {
		t.Fatalf("velocity: %v", u.Velocity)
	}
	f := &u.Facts
	minute := func(s int64) int64 { return s / 60 * 60 }
	ips := map[uint16]int64{}
	for _, s := range f.IPs {
		ips[s.Item] = s.LastSeen
	}
	if !f.Held || len(ips) != 2 || ips[Fingerprint(exportIP1)] != minute(at) || ips[Fingerprint(exportIP2)] != minute(at+120) {
		t.Fatalf("addresses: held %v, %+v", f.Held, f.IPs)
	}
	if len(f.Devices) != 1 || f.Devices[0].Item != Fingerprint(exportDev) || f.Devices[0].LastSeen != minute(at+120) {
		t.Fatalf("devices: %+v", f.Devices)
	}
	countries := map[string]int64{}
	for _, s := range f.Countries {
		countries[s.CountryCode()] = s.LastSeen
	}
	if len(countries) != 2 || countries["SE"] != minute(at) || countries["US"] != minute(at+120) {
		t.Fatalf("countries: %+v", f.Countries)
	}
	// Each amount is held twice: in a 10-minute bucket of the hour window and a 4-hour one of the day's.
	var short, long float64
	for _, a := range f.Amounts {
		switch {
		case a.Until-a.From == 600 && a.From <= at+120 && at < a.Until+600:
			short += a.Sum
		case a.Until-a.From == 4*3600 && a.From <= at+120 && at < a.Until:
			long += a.Sum
		default:
			t.Fatalf("amount bucket %+v outside the attempts' times", a)
		}
	}
	if short != 20 || long != 20 {
		t.Fatalf("amounts: %+v", f.Amounts)
	}
	// Read an hour and a half later: a decision sees the day's window only.
	if r := f.Reading; r.UserIPs24h != 2 || r.UserIPs1h != 0 || r.UserDevices24h != 1 || r.UserCountries24h != 2 ||
		r.UserAmount24h != 20 || r.UserAmount1h != 0 {
		t.Fatalf("reading: %+v", r)
	}
}

// checkErased fails unless the user is gone from s (history and facts included) and the other user is not.
func checkErased(t *testing.T, s State, at int64) {
	t.Helper()
	var u UserData
	held, err := s.Export(exportUser, at, &u)
	if held || err != nil || u.HasProfile || !u.Profile.History.Empty() || u.Facts.Held || len(u.Facts.IPs) != 0 ||
		len(u.Facts.Countries) != 0 || len(u.Facts.Amounts) != 0 {
		t.Fatalf("after erasure: held %v, err %v, %+v", held, err, u)
	}
	if held, err := s.Export(exportOther, at, &u); !held || err != nil || u.Profile.History.Logins() != 1 || len(u.Facts.IPs) != 1 {
		t.Fatalf("another user after the erasure: held %v, err %v, %+v", held, err, u)
	}
}

func eraseExportUser(t *testing.T, s State) {
	t.Helper()
	if had, err := s.Erase(exportUser); !had || err != nil {
		t.Fatalf("erase: %v %v", had, err)
	}
}

func TestExportShowsHistoryAndFacts(t *testing.T) {
	at := time.Now().Add(-2 * time.Hour).Unix()
	later := at + 90*60

	t.Run("memory", func(t *testing.T) {
		m := NewMemory(1 << 12)
		exportActivity(m, at)
		var u UserData
		if held, err := m.Export(exportUser, later, &u); !held || err != nil {
			t.Fatalf("export: %v %v", held, err)
		}
		checkExport(t, &u, at)
		eraseExportUser(t, m)
		checkErased(t, m, later)
	})

	t.Run("embedded", func(t *testing.T) {
		dir := t.TempDir()
		e := openEmbedded(t, dir, "k")
		exportActivity(e, at)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		// After a restart: the history comes back from bbolt, the facts from the snapshot.
		e = openEmbedded(t, dir, "k")
		var u UserData
		if held, err := e.Export(exportUser, later, &u); !held || err != nil {
			t.Fatalf("export: %v %v", held, err)
		}
		checkExport(t, &u, at)
		eraseExportUser(t, e)
		checkErased(t, e, later)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		e = openEmbedded(t, dir, "k")
		defer e.Close()
		checkErased(t, e, later)
	})

	t.Run("redis", func(t *testing.T) {
		srv := storetest.StartRedis(t)
		a, b := openRedis(t, srv.Addr, "k"), openRedis(t, srv.Addr, "k")
		exportActivity(a, at)
		settle(t, a)
		// Another instance exports what Redis holds, not what it saw.
		var u UserData
		if held, err := b.Export(exportUser, later, &u); !held || err != nil {
			t.Fatalf("export: %v %v", held, err)
		}
		checkExport(t, &u, at)
		eraseExportUser(t, b)
		checkErased(t, a, later)
		checkErased(t, b, later)
		if keys := beyondTombstone(srv.Keys(t, "*"+UserKeyHex(exportUser)+"*")); len(keys) != 0 {
			t.Fatalf("redis still holds %v", keys)
		}
	})
}
