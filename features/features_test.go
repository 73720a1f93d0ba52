package features

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/internal/testenv"
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

// TestDistanceMatchesHaversine: distanceKm gives, to the bit, what the haversine formula written out in full
// gives, over points spread across the globe (rules compare travel against thresholds, so a refactoring of the
// formula must not move a decision).
func TestDistanceMatchesHaversine(t *testing.T) {
	haversine := func(lat1, lon1, lat2, lon2 float64) float64 {
		const rad = math.Pi / 180
		dLat := (lat2 - lat1) * rad
		dLon := (lon2 - lon1) * rad
		a := math.Sin(dLat/2)*math.Sin(dLat/2) +
			math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
		return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
	}
	x := uint64(0x9E3779B97F4A7C15)
	next := func(scale float64) float64 { // xorshift: a fixed spread of points
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return (float64(x>>11)/(1<<53)*2 - 1) * scale
	}
	for range 100000 {
		lat1, lon1, lat2, lon2 := next(90), next(180), next(90), next(180)
		if got, want := distanceKm(lat1, lon1, lat2, lon2), haversine(lat1, lon1, lat2, lon2); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("distanceKm(%v, %v, %v, %v) = %v, haversine %v", lat1, lon1, lat2, lon2, got, want)
		}
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
	var ud store.UserData
	p := &ud.Profile
	x.ExportUser("u", at, &ud)
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
	var ud store.UserData
	p, c := &ud.Profile, &ud.Velocity
	if held, err := x.ExportUser("gone", at, &ud); !held || err != nil || p.Logins != 1 || c[store.Failures][store.Minute] != 1 {
		t.Fatalf("before erase: %+v %v", p, c)
	}
	if had, err := x.EraseUser("gone"); !had || err != nil {
		t.Fatal("Erase reported nothing held")
	}
	if held, _ := x.ExportUser("gone", at, &ud); held {
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

const (
	windowsChrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	iPhoneSafari  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)

// newGeoExtractor is an extractor over MaxMind's test databases: 216.160.83.56 is Milton, US (ASN 209),
// 214.78.120.1 San Diego, US (ASN 721), 89.160.20.112 Linköping, SE (ASN 29518).
func newGeoExtractor(t *testing.T) *Extractor {
	city, asn, anon := testenv.GeoIP(t)
	db, err := geo.Open(geo.Config{CityPath: city, ASNPath: asn, AnonymousPath: anon})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return NewExtractor(NewHasher([]byte("t")), NewState(1000), db)
}

// login decides nothing: it extracts ev's vector and, when allow is set, records it as an allowed login.
func login(x *Extractor, user, ip, device, ua string, at time.Time, allow bool) Vector {
	ev := &Event{Type: Login, UserID: user, IP: netip.MustParseAddr(ip), DeviceID: device, UserAgent: ua,
		Time: at.UnixNano(), HasCredentials: true, CredentialsValid: true}
	var obs Observation
	var v Vector
	x.Extract(ev, &obs, &v)
	if allow {
		x.Record(ev, &obs, VerdictAllow)
	}
	return v
}

func TestHabitsAndFamiliarity(t *testing.T) {
	x := newGeoExtractor(t)
	now := time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)
	if v := login(x, "hal", "216.160.83.56", "laptop", windowsChrome, now, false); v.HistoryLogins != 0 || v.LoginRisk != 0 ||
		v.Familiarity != 0.5 || v.NewNetwork || v.NewASN || v.NewCity || v.NewUA || v.UsualHour {
		t.Fatalf("a new user has habits: %+v", v)
	}
	// Other users make the population: mostly Linköping, SE on iPhones.
	for i := range 20 {
		login(x, "other-"+string(rune('a'+i)), "89.160.20.112", "", iPhoneSafari, now.Add(-48*time.Hour), true)
	}
	for d := 7; d >= 1; d-- {
		login(x, "hal", "216.160.83.56", "laptop", windowsChrome, now.AddDate(0, 0, -d), true)
	}
	usual := login(x, "hal", "216.160.83.60", "laptop", windowsChrome, now, false) // another address of the /24
	if usual.HistoryLogins != 7 || usual.NewNetwork || usual.NewASN || usual.NewCity || usual.NewUA || !usual.UsualHour ||
		usual.NewDevice || usual.NewCountry {
		t.Fatalf("the usual login: %+v", usual)
	}
	if usual.LoginRisk > -8 || usual.Familiarity < 0.999999 {
		t.Fatalf("the usual login scores risk %v familiarity %v", usual.LoginRisk, usual.Familiarity)
	}
	odd := login(x, "hal", "214.78.120.1", "", iPhoneSafari, now.Add(-8*time.Hour), false)
	if !odd.NewNetwork || !odd.NewASN || !odd.NewCity || !odd.NewUA || odd.UsualHour || odd.NewCountry || odd.NewDevice {
		t.Fatalf("the odd login: %+v", odd)
	}
	// Five new values of seven logins each say (7+1)/1 = 8 to 1; the usual country says otherwise.
	if odd.LoginRisk < 2 || odd.LoginRisk > 5*math.Log10(8) || odd.Familiarity > 0.01 {
		t.Fatalf("the odd login scores risk %v familiarity %v", odd.LoginRisk, odd.Familiarity)
	}
	// Somewhere common in the population is less telling than somewhere rare: SE on an iPhone, new to hal, is
	// what many others do, so a usual SE login of theirs is less familiar than hal's usual login is.
	other := login(x, "other-a", "89.160.20.112", "", iPhoneSafari, now.Add(-47*time.Hour), false)
	if other.HistoryLogins != 1 || other.LoginRisk >= 0 || other.LoginRisk <= usual.LoginRisk {
		t.Fatalf("a common habit scores %v, hal's rare one %v", other.LoginRisk, usual.LoginRisk)
	}
	t.Logf("login_risk: usual %.2f, odd %.2f, a common habit with one login %.2f", usual.LoginRisk, odd.LoginRisk, other.LoginRisk)
}

func TestNetworkKeys(t *testing.T) {
	h := NewHasher([]byte("t"))
	same := [][2]string{{"192.0.2.1", "192.0.2.254"}, {"192.0.2.7", "::ffff:192.0.2.9"}, {"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"}}
	for _, c := range same {
		if h.Network(netip.MustParseAddr(c[0])) != h.Network(netip.MustParseAddr(c[1])) {
			t.Errorf("%s and %s are one network", c[0], c[1])
		}
	}
	apart := [][2]string{{"192.0.2.1", "192.0.3.1"}, {"2001:db8:1:2::1", "2001:db8:1:3::1"}, {"0.0.0.1", "::1"}}
	for _, c := range apart {
		if h.Network(netip.MustParseAddr(c[0])) == h.Network(netip.MustParseAddr(c[1])) {
			t.Errorf("%s and %s are different networks", c[0], c[1])
		}
	}
	if h.Network(netip.Addr{}) != 0 || h.Network(netip.MustParseAddr("192.0.2.1")) == 0 {
		t.Error("only an invalid address has no network")
	}
	if h.Network(netip.MustParseAddr("192.0.2.1")) == NewHasher([]byte("u")).Network(netip.MustParseAddr("192.0.2.1")) {
		t.Error("network keys do not depend on the secret")
	}
}

func TestOutcomesTeachHabits(t *testing.T) {
	x := newGeoExtractor(t)
	at := time.Now().Add(-time.Hour).UnixNano()
	x.Learn(&Outcome{Type: LoginSucceeded, UserID: "o", IP: netip.MustParseAddr("216.160.83.56"), UserAgent: windowsChrome, Time: at})
	x.Learn(&Outcome{Type: MFAPassed, UserID: "o", IP: netip.MustParseAddr("89.160.20.112"), DeviceID: "p", UserAgent: iPhoneSafari, Time: at})
	x.Learn(&Outcome{Type: LoginFailed, UserID: "o", IP: netip.MustParseAddr("214.78.120.1"), UserAgent: windowsChrome, Time: at})
	var ud store.UserData
	p := &ud.Profile
	x.ExportUser("o", at, &ud)
	h := &p.History
	if h.Logins() != 2 || h.NumHabits[store.HabitNetwork] != 2 || h.NumHabits[store.HabitASN] != 2 || h.NumHabits[store.HabitAgent] != 2 ||
		h.Classes[classDesktop-1].Logins != 1 || h.Classes[classMobile-1].Logins != 1 {
		t.Fatalf("history after two confirmed logins and a failure: %+v", *h)
	}
	if n := x.pop.totals[traitNetwork].Load(); n != 2 {
		t.Fatalf("population counted %d networks, want 2", n)
	}
}

func TestPopulationCounts(t *testing.T) {
	p := NewPopulation()
	op := store.ProfileOp{Kind: store.OpLogin, At: 3600, Network: 5, Agent: 6, Class: 2, HasDevice: true, Device: 1 << 40,
		Place: store.Place{ASN: 5, CityID: 8, Country: [2]byte{'S', 'E'}}}
	for range 30 {
		p.Learn(&op)
	}
	op.Network, op.Place.Country, op.Class = 6, [2]byte{'?', '1'}, 9
	p.Learn(&op)
	// Equal keys of different features are counted apart.
	if n, a := p.count(traitNetwork, 5), p.count(traitASN, 5); n != 30 || a != 31 {
		t.Fatalf("network 5: %d, ASN 5: %d", n, a)
	}
	if c := p.count(traitDevice, 1<<40); c != 31 || p.count(traitCity, 9) != 0 {
		t.Fatalf("device %d", c)
	}
	if se := p.exact[countryCell([2]byte{'S', 'E'})].Load(); se != 30 || p.totals[traitCountry].Load() != 30 || p.totals[traitClass].Load() != 30 {
		t.Fatal("a malformed country or class was counted")
	}
	if f := p.freq(traitHour, p.exact[exactHours+store.HourBin(3600)].Load()); f.a != 32 || f.b != 31+store.HourBins {
		t.Fatalf("p(hour bin) = %v", f)
	}
	p.halve()
	if p.count(traitNetwork, 5) != 15 || p.totals[traitNetwork].Load() != 15 {
		t.Fatal("halving")
	}
}

func TestPopulationConcurrentLearnAndAge(t *testing.T) {
	p := NewPopulation()
	p.since.Store(populationHalfLife - 1000)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			op := store.ProfileOp{Kind: store.OpLogin, At: int64(g), Network: uint32(g + 1)}
			for range 1000 {
				p.Learn(&op)
			}
		}()
	}
	for range 4 {
		<-done
	}
	// One halving ran, at the 1000th login; none of the 4000 increments is lost, though some were halved.
	if n := p.totals[traitNetwork].Load(); n < 2000 || n > 3500 {
		t.Fatalf("%d networks counted after a halving", n)
	}
	if s := p.since.Load(); s > 3000 {
		t.Fatalf("since = %d: the halving did not reset it", s)
	}
}

// TestOddsRatio: one feature's ratio as score computes it, against the formula of p(x | user) it stands for.
func TestOddsRatio(t *testing.T) {
	for _, c := range []struct {
		a, b float64
		c, n int
	}{{1, 100, 0, 5}, {30, 100, 5, 5}, {7, 1 << 20, 6, 6}, {1, 6, 0, 0}, {60, 100, 1, 100}, {2, 1e7, 65535, 65535}} {
		o := odds{1, 1}
		o.mul(fraction{c.a, c.b}, c.c, c.n)
		pop := c.a / c.b
		want := 1.0
		if c.n > 0 {
			want = min(max(pop/((float64(c.c)+alpha*pop)/(float64(c.n)+alpha)), minRatio), maxRatio)
		}
		if got := o.num / o.den; math.Abs(got-want) > 1e-12*want {
			t.Errorf("%+v: ratio %v, want %v", c, got, want)
		}
	}
}
