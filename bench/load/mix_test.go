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
