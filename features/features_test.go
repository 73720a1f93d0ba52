package features

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/riskd/riskd/store"
)

func TestDistance(t *testing.T) {
	// London to Paris is about 344 km.
	if d := distanceKm(51.5074, -0.1278, 48.8566, 2.3522); math.Abs(d-344) > 5 {
		t.Fatalf("London-Paris = %.0f km", d)
	}
	if d := distanceKm(10, 10, 10, 10); d != 0 {
		t.Fatalf("same point = %v", d)
	}
}

func TestTravelDiscountsRadii(t *testing.T) {
	// 344 km apart, but each location only known to 200 km: no evidence of travel at all.
	if km, kmh := travel(51.5074, -0.1278, 200, 48.8566, 2.3522, 200, 0.1); km != 0 || kmh != 0 {
		t.Fatalf("coarse locations: %v km %v km/h", km, kmh)
	}
	// With 10 km radii, 324 km in 20 minutes.
	km, kmh := travel(51.5074, -0.1278, 10, 48.8566, 2.3522, 10, 1.0/3)
	if math.Abs(km-324) > 5 || math.Abs(kmh-972) > 15 {
		t.Fatalf("%v km %v km/h", km, kmh)
	}
	// Simultaneous logins: time floored at a minute, not a division by zero.
	if _, kmh := travel(51.5074, -0.1278, 10, 48.8566, 2.3522, 10, 0); math.IsInf(kmh, 0) || kmh <= 0 {
		t.Fatalf("simultaneous: %v km/h", kmh)
	}
}

func TestHasherSeparatesKindsAndSecrets(t *testing.T) {
	a, b := NewHasher([]byte("one")), NewHasher([]byte("two"))
	if a.User("x") == b.User("x") {
		t.Fatal("different secrets gave the same key")
	}
	if a.User("x") != NewHasher([]byte("one")).User("x") {
		t.Fatal("the same secret gave different keys")
	}
	if a.User("x") == a.Device("x") {
		t.Fatal("a user and a device with the same id share a key")
	}
	v4 := netip.MustParseAddr("192.0.2.1")
	if a.IP(v4) != a.IP(netip.MustParseAddr("::ffff:192.0.2.1")) {
		t.Fatal("an IPv4-mapped address keys differently from its IPv4 form")
	}
}

func newTestExtractor() *Extractor {
	return NewExtractor(NewHasher([]byte("t")), NewState(1000), nil)
}

func TestFailuresNeverCreateProfiles(t *testing.T) {
	x := newTestExtractor()
	at := time.Now().UnixNano()
	ev := &Event{Type: Login, UserID: "mallory-target", IP: netip.MustParseAddr("198.51.100.1"), DeviceID: "d",
		Time: at, HasCredentials: true, CredentialsValid: false}
	var obs Observation
	var v Vector
	x.Extract(ev, &obs, &v)
	x.Record(ev, &obs, VerdictAllow)
	x.Learn(&Outcome{Type: LoginFailed, UserID: "someone", Time: at})
	if n := x.state.(*store.Memory).Profiles.Len(); n != 0 {
		t.Fatalf("%d profiles after failures only", n)
	}
	x.Extract(ev, &obs, &v)
	if v.UserFailures1m != 1 || v.IPFailures1m != 1 || v.DeviceFailures1m != 1 || v.UserAttempts1m != 1 {
		t.Fatalf("counters: %+v", v)
	}
}

func TestSteppedUpLoginLearnsOnlyAfterMFA(t *testing.T) {
	x := newTestExtractor()
	at := time.Now().UnixNano()
	ev := &Event{Type: Login, UserID: "u", IP: netip.MustParseAddr("198.51.100.1"), DeviceID: "d1",
		Time: at, HasCredentials: true, CredentialsValid: true}
	var obs Observation
	var v Vector
	x.Extract(ev, &obs, &v)
	x.Record(ev, &obs, VerdictStepUp)
	var p store.Profile
	var c [store.NumMetrics]store.Counts
	x.ExportUser("u", at, &p, &c)
	if p.Logins != 0 {
		t.Fatal("a stepped-up login was learned before its MFA passed")
	}
	x.Learn(&Outcome{Type: MFAPassed, UserID: "u", IP: ev.IP, DeviceID: "d1", Time: at + int64(time.Minute)})
	x.Extract(ev, &obs, &v)
	if !v.TrustedDevice || v.NewDevice || v.NewUser || v.UserLogins != 1 {
		t.Fatalf("after mfa_passed: trusted %v new %v new_user %v logins %d", v.TrustedDevice, v.NewDevice, v.NewUser, v.UserLogins)
	}
	x.Learn(&Outcome{Type: FraudConfirmed, UserID: "u", DeviceID: "d1", Time: at + int64(2*time.Minute)})
	x.Extract(ev, &obs, &v)
	if v.TrustedDevice || !v.NewDevice {
		t.Fatalf("after fraud_confirmed the device must be unknown: trusted %v new %v", v.TrustedDevice, v.NewDevice)
	}
}

func TestMFAPreferenceResolution(t *testing.T) {
	x := newTestExtractor()
	ev := &Event{Type: Login, UserID: "p", IP: netip.MustParseAddr("198.51.100.1"), Time: time.Now().UnixNano()}
	var obs Observation
	var v Vector
	x.Extract(ev, &obs, &v)
	if obs.MFA != MFAAdaptive || v.MFAPreference != "adaptive" {
		t.Fatalf("default: %v", obs.MFA)
	}
	x.SetMFAPreference("p", MFAAlways, ev.Time)
	x.Extract(ev, &obs, &v)
	if obs.MFA != MFAAlways {
		t.Fatalf("stored: %v", obs.MFA)
	}
	ev.MFAPreference = MFASensitive
	x.Extract(ev, &obs, &v)
	if obs.MFA != MFASensitive {
		t.Fatalf("request overrides stored: %v", obs.MFA)
	}
}

func TestEraseForgetsUser(t *testing.T) {
	x := newTestExtractor()
	at := time.Now().UnixNano()
	x.Learn(&Outcome{Type: LoginSucceeded, UserID: "gone", DeviceID: "d", Time: at})
	x.Learn(&Outcome{Type: LoginFailed, UserID: "gone", Time: at})
	var p store.Profile
	var c [store.NumMetrics]store.Counts
	if held, err := x.ExportUser("gone", at, &p, &c); !held || err != nil || p.Logins != 1 || c[store.Failures][store.Minute] != 1 {
		t.Fatalf("before erase: %+v %v", p, c)
	}
	if had, err := x.EraseUser("gone"); !had || err != nil {
		t.Fatal("Erase reported nothing held")
	}
	if held, _ := x.ExportUser("gone", at, &p, &c); held {
		t.Fatalf("after erase: %+v %v", p, c)
	}
}

func TestEventTypeNames(t *testing.T) {
	for et := Login; et < NumEventTypes; et++ {
		got, ok := ParseEventType(et.String())
		if !ok || got != et {
			t.Fatalf("%v does not round-trip", et)
		}
	}
	for ot := LoginSucceeded; ot < numOutcomeTypes; ot++ {
		got, ok := ParseOutcomeType(ot.String())
		if !ok || got != ot {
			t.Fatalf("%v does not round-trip", ot)
		}
	}
	if _, ok := ParseEventType(""); ok {
		t.Fatal("empty type parsed")
	}
}
