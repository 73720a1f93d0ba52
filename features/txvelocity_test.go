package features

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/riskd/riskd/store"
	"github.com/riskd/riskd/store/storetest"
)

func TestScopedKeysDifferPerScopeAndSecret(t *testing.T) {
	a, b := NewHasher([]byte("one")), NewHasher([]byte("two"))
	k := a.User("x")
	if a.Scoped(k, ScopeCheckout) == k || a.Scoped(k, ScopeCheckout) == a.Scoped(k, ScopeRegistration) {
		t.Fatal("a scoped key equals the subject's key or another scope's")
	}
	if a.Scoped(k, ScopeCheckout) == b.Scoped(k, ScopeCheckout) {
		t.Fatal("different secrets gave the same scoped key")
	}
	if a.Scoped(k, ScopeCheckout) != NewHasher([]byte("one")).Scoped(k, ScopeCheckout) {
		t.Fatal("the same secret gave different scoped keys")
	}
}

// checkout decides nothing: it extracts a checkout as the engine does and returns its vector.
func checkout(x *Extractor, user, device, ip string, amount float64, at int64) Vector {
	ev := &Event{Type: Checkout, UserID: user, DeviceID: device, IP: netip.MustParseAddr(ip), Time: at,
		Amount: amount, HasAmount: true, Currency: "EUR"}
	if err := x.Convert(ev); err != nil { // into the reporting currency, as the engine does first
		panic(err)
	}
	var obs Observation
	var v Vector
	x.Extract(ev, &obs, &v)
	x.Record(ev, &obs, VerdictAllow)
	return v
}

func TestCheckoutsCountApartFromLogins(t *testing.T) {
	x := newTestExtractor()
	at := time.Now().UnixNano()
	// A busy user's logins from the device and the address are not checkouts.
	for range 5 {
		ev := &Event{Type: Login, UserID: "u0", DeviceID: "d1", IP: netip.MustParseAddr("198.51.100.7"), Time: at,
			HasCredentials: true, CredentialsValid: true}
		var obs Observation
		var v Vector
		x.Extract(ev, &obs, &v)
		if v.DeviceCheckouts1h != 0 || v.IPCheckouts1h != 0 {
			t.Fatalf("a login reads checkout counts: %+v", v)
		}
		x.Record(ev, &obs, VerdictAllow)
	}
	// Three accounts check out small amounts from one device and address, a fourth a large one.
	for i := range 3 {
		checkout(x, fmt.Sprintf("tester-%d", i), "d1", "198.51.100.7", 1, at)
	}
	checkout(x, "tester-3", "d1", "198.51.100.7", 250, at)
	v := checkout(x, "tester-4", "d1", "198.51.100.7", 2, at)
	if v.DeviceCheckouts1h != 4 || v.DeviceCheckouts24h != 4 || v.IPCheckouts10m != 4 || v.IPCheckouts24h != 4 ||
		v.SubnetCheckouts1h != 4 {
		t.Fatalf("checkouts: device %d/%d ip %d/%d subnet %d, want 4", v.DeviceCheckouts1h, v.DeviceCheckouts24h,
			v.IPCheckouts10m, v.IPCheckouts24h, v.SubnetCheckouts1h)
	}
	if v.DeviceSmallCheckouts1h != 3 || v.IPSmallCheckouts24h != 3 {
		t.Fatalf("small checkouts: device %d ip %d, want 3", v.DeviceSmallCheckouts1h, v.IPSmallCheckouts24h)
	}
	if v.DeviceCheckoutUsers24h != 4 || v.IPCheckoutUsers1h != 4 || v.SubnetCheckoutUsers1h != 4 {
		t.Fatalf("distinct users checking out: device %d ip %d subnet %d, want 4 (the logins' user is not one)",
			v.DeviceCheckoutUsers24h, v.IPCheckoutUsers1h, v.SubnetCheckoutUsers1h)
	}
	// The unscoped counters still count every decision.
	if v.DeviceAttempts1h != 9 {
		t.Fatalf("device attempts %d, want 9 (5 logins, 4 checkouts)", v.DeviceAttempts1h)
	}
	if v.UserCheckouts24h != 0 {
		t.Fatalf("tester-4's first checkout reads %d earlier checkouts", v.UserCheckouts24h)
	}
	if v = checkout(x, "tester-4", "d2", "203.0.113.9", 2, at); v.UserCheckouts1h != 1 || v.DeviceCheckouts1h != 0 {
		t.Fatalf("tester-4 elsewhere: user %d device %d, want 1 and 0", v.UserCheckouts1h, v.DeviceCheckouts1h)
	}
}

func TestDeclinesCountInTheCheckoutScopeOnly(t *testing.T) {
	x := newTestExtractor()
	at := time.Now().UnixNano()
	for range 3 {
		x.Learn(&Outcome{Type: PaymentDeclined, UserID: "carder", DeviceID: "d9", IP: netip.MustParseAddr("198.51.100.9"), Time: at})
	}
	v := checkout(x, "carder", "d9", "198.51.100.9", 1, at)
	if v.UserDeclines1h != 3 || v.UserDeclines24h != 3 || v.DeviceDeclines1h != 3 || v.IPDeclines1h != 3 || v.SubnetDeclines1h != 3 {
		t.Fatalf("declines: user %d device %d ip %d subnet %d, want 3", v.UserDeclines1h, v.DeviceDeclines1h, v.IPDeclines1h, v.SubnetDeclines1h)
	}
	// A declined card is no failed login.
	if v.UserFailures1h != 0 || v.DeviceFailures1h != 0 || v.IPFailures1h != 0 {
		t.Fatalf("declines counted as login failures: user %d device %d ip %d", v.UserFailures1h, v.DeviceFailures1h, v.IPFailures1h)
	}
}

func TestRegistrationsCountPerAddressAndDevice(t *testing.T) {
	x := newTestExtractor()
	at := time.Now().UnixNano()
	var v Vector
	for i := range 6 {
		ev := &Event{Type: Registration, UserID: fmt.Sprintf("new-%d", i%4), DeviceID: "farm-phone",
			IP: netip.MustParseAddr("198.51.100.20"), Time: at + int64(i)*int64(time.Second)}
		var obs Observation
		x.Extract(ev, &obs, &v)
		x.Record(ev, &obs, VerdictAllow)
	}
	if v.IPRegistrations1m != 5 || v.IPRegistrations24h != 5 || v.SubnetRegistrations10m != 5 || v.DeviceRegistrations1h != 5 {
		t.Fatalf("registrations before the sixth: ip %d/%d subnet %d device %d, want 5", v.IPRegistrations1m,
			v.IPRegistrations24h, v.SubnetRegistrations10m, v.DeviceRegistrations1h)
	}
	if v.DeviceAccounts24h != 4 {
		t.Fatalf("accounts registered from the device: %d, want 4 distinct user ids", v.DeviceAccounts24h)
	}
	// A registration without a user id counts too, and a login reads none of it.
	ev := &Event{Type: Login, UserID: "new-1", DeviceID: "farm-phone", IP: netip.MustParseAddr("198.51.100.20"), Time: at,
		HasCredentials: true, CredentialsValid: true}
	var obs Observation
	x.Extract(ev, &obs, &v)
	if v.DeviceRegistrations24h != 0 || v.IPRegistrations24h != 0 {
		t.Fatalf("a login reads registration counts: device %d ip %d", v.DeviceRegistrations24h, v.IPRegistrations24h)
	}
}

func TestEraseUserErasesScopedRecords(t *testing.T) {
	x := newTestExtractor()
	at := time.Now().UnixNano()
	checkout(x, "leaver", "d1", "198.51.100.7", 5, at)
	x.Learn(&Outcome{Type: PaymentDeclined, UserID: "leaver", DeviceID: "d1", Time: at})
	var u store.UserData
	if found, err := x.ExportUserScoped("leaver", ScopeCheckout, at, &u); err != nil || !found ||
		u.Velocity[store.Attempts][store.Hour] != 1 || u.Velocity[store.Failures][store.Hour] != 1 {
		t.Fatalf("export before erasure: found %v err %v velocity %v", found, err, u.Velocity)
	}
	if _, err := x.EraseUser("leaver"); err != nil {
		t.Fatal(err)
	}
	u = store.UserData{}
	if found, err := x.ExportUserScoped("leaver", ScopeCheckout, at, &u); err != nil || found {
		t.Fatalf("the user's checkout records outlive the erasure: found %v err %v velocity %v", found, err, u.Velocity)
	}
}

// TestScopedRecordsOnEveryBackend: the scoped records are ordinary records of the store, so the shared state
// (a real redis-server) counts them, and erases the user's, as memory does.
func TestScopedRecordsOnEveryBackend(t *testing.T) {
	for _, backend := range []struct {
		name string
		open func(t *testing.T) store.State
	}{
		{"memory", func(*testing.T) store.State { return NewState(0) }},
		{"redis", func(t *testing.T) store.State {
			srv := storetest.StartRedis(t)
			r, err := store.OpenRedis(store.RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, KeyCheck: []byte("scoped"),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		}},
	} {
		t.Run(backend.name, func(t *testing.T) {
			st := backend.open(t)
			x := NewExtractor(NewHasher([]byte("t")), st, nil)
			at := time.Now().UnixNano()
			checkout(x, "shared-1", "d1", "198.51.100.7", 2, at)
			checkout(x, "shared-2", "d1", "198.51.100.7", 3, at)
			x.Learn(&Outcome{Type: PaymentDeclined, UserID: "shared-2", DeviceID: "d1", IP: netip.MustParseAddr("198.51.100.7"), Time: at})
			// Redis counts an outcome through its write queue, off the request path: a checkout decided within
			// microseconds of the decline may not see it yet. Wait for the queue, as a later checkout would.
			if q, ok := st.(interface{ Sync() error }); ok {
				if err := q.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			v := checkout(x, "shared-2", "d1", "198.51.100.7", 4, at)
			if v.DeviceSmallCheckouts1h != 2 || v.DeviceDeclines1h != 1 || v.DeviceCheckoutUsers24h != 2 || v.UserCheckouts1h != 1 || v.UserDeclines1h != 1 {
				t.Fatalf("device small %d declines %d users %d, user checkouts %d declines %d; want 2 1 2 1 1",
					v.DeviceSmallCheckouts1h, v.DeviceDeclines1h, v.DeviceCheckoutUsers24h, v.UserCheckouts1h, v.UserDeclines1h)
			}
			if _, err := x.EraseUser("shared-2"); err != nil {
				t.Fatal(err)
			}
			var u store.UserData
			if found, err := x.ExportUserScoped("shared-2", ScopeCheckout, at, &u); err != nil || found {
				t.Fatalf("after erasure: found %v err %v velocity %v", found, err, u.Velocity)
			}
			if v = checkout(x, "shared-2", "d2", "203.0.113.1", 50, at); v.UserCheckouts24h != 0 || v.UserDeclines24h != 0 {
				t.Fatalf("the erased user's checkouts %d and declines %d outlive the erasure", v.UserCheckouts24h, v.UserDeclines24h)
			}
		})
	}
}
