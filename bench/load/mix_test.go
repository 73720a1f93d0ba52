package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// decideBody is what riskd's /v1/decide accepts, for checking generated bodies field by field.
type decideBody struct {
	Type             string   `json:"type"`
	UserID           string   `json:"user_id"`
	IP               string   `json:"ip"`
	DeviceID         *string  `json:"device_id"`
	UserAgent        string   `json:"user_agent"`
	Channel          string   `json:"channel"`
	Tenant           *string  `json:"tenant"`
	Amount           *float64 `json:"amount"`
	Currency         *string  `json:"currency"`
	CredentialsValid *bool    `json:"credentials_valid"`
}

func testMix(t *testing.T, cfg MixConfig) *Mix {
	t.Helper()
	if cfg.Users == 0 {
		cfg = MixConfig{Users: 1000, HomeDemo: 0.3, Failed: 0.03, Checkout: 0.07, Travel: 0.02, Attack: 0.05, AttackIPs: 16, Seed: 1, Nonce: 99}
	}
	m, err := newMix(cfg, builtinUserAgents())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func decode(t *testing.T, b []byte) decideBody {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields() // riskd refuses unknown fields
	var d decideBody
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	return d
}

func TestMixBodiesAreValidRequests(t *testing.T) {
	m := testMix(t, MixConfig{})
	rng := rand.New(rand.NewPCG(1, 1))
	attackIPs := map[string]bool{}
	for _, a := range m.attackIPs {
		attackIPs[string(appendIPv4(nil, a))] = true
	}
	var buf []byte
	for range 10_000 {
		var k eventKind
		buf, k = m.Append(buf[:0], rng)
		d := decode(t, buf)
		ip, err := netip.ParseAddr(d.IP)
		if err != nil || !ip.Is4() {
			t.Fatalf("%s: ip %q", buf, d.IP)
		}
		if d.UserID == "" || d.UserAgent == "" || (d.Channel != "web" && d.Channel != "mobile") {
			t.Fatalf("%s: missing user, user agent or channel", buf)
		}
		switch k {
		case kindCheckout:
			if d.Type != "checkout" || d.Amount == nil || *d.Amount < 5 || *d.Amount >= 500 || d.Currency == nil || d.CredentialsValid != nil {
				t.Fatalf("checkout %s", buf)
			}
		case kindFailed:
			if d.Type != "login" || d.CredentialsValid == nil || *d.CredentialsValid {
				t.Fatalf("failed login %s", buf)
			}
		case kindAttack:
			if !attackIPs[d.IP] || d.Tenant != nil {
				t.Fatalf("stuffing from %s, not one of the %d attack addresses: %s", d.IP, len(attackIPs), buf)
			}
		default:
			if d.Type != "login" || d.CredentialsValid == nil || !*d.CredentialsValid || d.DeviceID == nil || d.Tenant == nil {
				t.Fatalf("login %s", buf)
			}
		}
	}
}

func TestMixShares(t *testing.T) {
	m := testMix(t, MixConfig{})
	rng := rand.New(rand.NewPCG(2, 2))
	const n = 100_000
	var counts [numKinds]float64
	var buf []byte
	for range n {
		var k eventKind
		buf, k = m.Append(buf[:0], rng)
		counts[k]++
	}
	want := [numKinds]float64{kindLogin: 0.83, kindFailed: 0.03, kindCheckout: 0.07, kindTravel: 0.02, kindAttack: 0.05}
	for k, w := range want {
		if got := counts[k] / n; math.Abs(got-w) > 0.006 {
			t.Errorf("%v: share %.4f, want %.2f", eventKind(k), got, w)
		}
	}
}

func TestUsersKeepTheirHabits(t *testing.T) {
	m := testMix(t, MixConfig{Users: 200, HomeDemo: 0.5, Seed: 3})
	rng := rand.New(rand.NewPCG(3, 3))
	ips := map[string]map[string]bool{}
	devices := map[string]map[string]bool{}
	agents := map[string]string{} // device → user agent
	var buf []byte
	for range 8_000 {
		buf, _ = m.Append(buf[:0], rng) // logins only: no travel, failures or attacks in this mix
		d := decode(t, buf)
		if ips[d.UserID] == nil {
			ips[d.UserID], devices[d.UserID] = map[string]bool{}, map[string]bool{}
		}
		ips[d.UserID][d.IP] = true
		devices[d.UserID][*d.DeviceID] = true
		if ua, ok := agents[*d.DeviceID]; ok && ua != d.UserAgent {
			t.Fatalf("device %s changed browser", *d.DeviceID)
		}
		agents[*d.DeviceID] = d.UserAgent
	}
	if len(ips) != 200 {
		t.Errorf("%d users seen, want all 200", len(ips))
	}
	two := 0
	for u := range ips {
		if len(ips[u]) != 1 {
			t.Errorf("user %s logged in from %d home addresses", u, len(ips[u]))
		}
		if n := len(devices[u]); n < 1 || n > 2 {
			t.Errorf("user %s has %d devices, want 1 or 2", u, n)
		} else if n == 2 {
			two++
		}
	}
	if two < 60 || two > 140 {
		t.Errorf("%d of 200 users have two devices, want about half", two)
	}
}

func TestSprayNeverRepeats(t *testing.T) {
	m := testMix(t, MixConfig{Users: 10, Spray: 1, Seed: 4, Nonce: 12345})
	rng := rand.New(rand.NewPCG(4, 4))
	seen := map[string]bool{}
	var buf []byte
	for range 5_000 {
		buf, _ = m.Append(buf[:0], rng)
		d := decode(t, buf)
		for _, key := range []string{"u" + d.UserID, "i" + d.IP, "d" + *d.DeviceID} {
			if seen[key] {
				t.Fatalf("sprayed key %s repeated", key)
			}
			seen[key] = true
		}
	}
	other := testMix(t, MixConfig{Users: 10, Spray: 1, Seed: 4, Nonce: 54321})
	buf, _ = other.Append(buf[:0], rng)
	if d := decode(t, buf); seen["u"+d.UserID] || seen["d"+*d.DeviceID] {
		t.Error("a run with another nonce repeats the first run's ids")
	}
}

func TestMixRefusesBadShares(t *testing.T) {
	for _, cfg := range []MixConfig{
		{Users: 0},
		{Users: 10, Failed: 0.6, Attack: 0.6},
		{Users: 10, Checkout: -0.1},
		{Users: 10, HomeDemo: 2},
	} {
		if _, err := newMix(cfg, builtinUserAgents()); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

func BenchmarkMixAppend(b *testing.B) {
	m, err := newMix(MixConfig{Users: 100_000, HomeDemo: 0.3, Failed: 0.03, Checkout: 0.07, Travel: 0.02, Attack: 0.05, AttackIPs: 16, Seed: 1}, builtinUserAgents())
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = m.Append(buf[:0], rng)
	}
}

// keysOf is the state keys a request creates or touches in riskd: its user, address and device, under the
// keys of the checkout scope for a checkout (riskd counts checkouts apart).
func keysOf(d decideBody) []string {
	scope := ""
	if d.Type == "checkout" {
		scope = "checkout/"
	}
	keys := []string{scope + "u" + d.UserID, scope + "i" + d.IP}
	if d.DeviceID != nil {
		keys = append(keys, scope+"d"+*d.DeviceID)
	}
	return keys
}

func TestMixPopulationsAreBounded(t *testing.T) {
	cfg := MixConfig{Users: 500, HomeDemo: 0.3, Failed: 0.03, Checkout: 0.07, Travel: 0.1, Attack: 0.3, AttackIPs: 16,
		TravelIPs: 100, StuffedUsers: 50, StuffedDevices: 70, Seed: 5, Nonce: 1}
	m := testMix(t, cfg)
	rng := rand.New(rand.NewPCG(5, 5))
	seen := map[string]bool{}
	travel, stuffedUsers, stuffedDevices := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var buf []byte
	for range 100_000 {
		var k eventKind
		buf, k = m.Append(buf[:0], rng)
		d := decode(t, buf)
		for _, key := range keysOf(d) {
			seen[key] = true
		}
		switch k {
		case kindTravel:
			travel[d.IP] = true
		case kindAttack:
			if strings.HasPrefix(d.UserID, "x") {
				stuffedUsers[d.UserID] = true
			}
			if d.DeviceID != nil {
				stuffedDevices[*d.DeviceID] = true
			}
		}
	}
	// 100,000 draws cover each pool many times over: exactly the pool's size, never more.
	if len(travel) != 100 || len(stuffedUsers) != 50 || len(stuffedDevices) != 70 {
		t.Errorf("%d travel addresses, %d made-up users, %d stuffing fingerprints; want 100, 50, 70",
			len(travel), len(stuffedUsers), len(stuffedDevices))
	}
	// Users at most 500 + 50 made up, addresses at most the homes + 100 + 16, devices at most 2 × 500 + 70.
	var users, ips, devices int
	for key := range seen {
		switch key[0] {
		case 'u':
			users++
		case 'i':
			ips++
		case 'd':
			devices++
		}
	}
	if users > 550 || ips > 500+100+16 || devices > 1000+70 {
		t.Errorf("%d users, %d addresses, %d devices: more than the populations hold", users, ips, devices)
	}
}

func TestPrimingSweepCoversEveryKey(t *testing.T) {
	cfg := MixConfig{Users: 300, HomeDemo: 0.3, Failed: 0.03, Checkout: 0.07, Travel: 0.1, Attack: 0.3, AttackIPs: 16,
		TravelIPs: 40, StuffedUsers: 30, StuffedDevices: 60, Seed: 6, Nonce: 2}
	m := testMix(t, cfg)
	if got, want := m.PrimeLen(), 4*300+40+60; got != want {
		t.Fatalf("PrimeLen %d, want %d", got, want)
	}
	primed := map[string]bool{}
	var buf []byte
	for i := range m.PrimeLen() {
		buf = m.AppendPrime(buf[:0], i)
		d := decode(t, buf)
		if d.Type == "checkout" && (d.Amount == nil || *d.Amount < 10) || d.Type != "checkout" && (d.Type != "login" || d.CredentialsValid == nil) {
			t.Fatalf("priming request %d: %s", i, buf)
		}
		for _, key := range keysOf(d) {
			primed[key] = true
		}
	}
	// Whatever the mix sends afterwards, every key is one the sweep sent.
	rng := rand.New(rand.NewPCG(6, 6))
	for range 50_000 {
		buf, _ = m.Append(buf[:0], rng)
		for _, key := range keysOf(decode(t, buf)) {
			if !primed[key] {
				t.Fatalf("%s: key %s was not primed", buf, key)
			}
		}
	}
	// The same sweep twice: it is a function of the seed alone.
	again := testMix(t, cfg)
	for _, i := range []int{0, 1, 2, 3, 1199, 1200, 1239, 1240, 1299} {
		a, b := m.AppendPrime(nil, i), again.AppendPrime(nil, i)
		if string(a) != string(b) {
			t.Errorf("priming request %d differs between two mixes of one seed:\n%s\n%s", i, a, b)
		}
	}
}

func TestPrimingSweepSkipsUnusedPools(t *testing.T) {
	m := testMix(t, MixConfig{Users: 100, Seed: 7})
	if got := m.PrimeLen(); got != 200 {
		t.Errorf("a mix of logins only primes %d requests, want 200 (its users' devices)", got)
	}
}
