package server_test

import (
	"fmt"
	"net/http"
	"testing"
)

// explainFeatures decides ev with ?explain=1 and returns its feature vector.
func explainFeatures(ts *testServer, ev map[string]any) map[string]any {
	ts.t.Helper()
	status, m := ts.post("/v1/decide?explain=1", ev)
	if status != http.StatusOK {
		ts.t.Fatalf("explain %v: status %d: %v", ev, status, m)
	}
	f, ok := m["features"].(map[string]any)
	if !ok {
		ts.t.Fatalf("no features in %v", m)
	}
	return f
}

// TestHostileDeclineOutcomes: payment_declined is validated as strictly as every outcome, a refused one counts
// nothing, and an accepted one counts a decline of the checkout's user, device and address, not a failed login.
func TestHostileDeclineOutcomes(t *testing.T) {
	ts := start(t)
	checkout := map[string]any{"type": "checkout", "user_id": "card-owner", "ip": "89.160.20.112", "device_id": "shop-phone",
		"amount": 3, "currency": "EUR"}
	ts.decide(checkout)
	bad := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"type": "payment_declined", "ip": "89.160.20.112"}, "user_id"},
		{map[string]any{"type": "payment_decline", "user_id": "card-owner"}, "type"},
		{map[string]any{"type": "PAYMENT_DECLINED", "user_id": "card-owner"}, "type"},
		{map[string]any{"type": 7, "user_id": "card-owner"}, "type"},
		{map[string]any{"type": "payment_declined", "user_id": "card-owner", "amount": 3}, "amount"},
		{map[string]any{"type": "payment_declined", "user_id": "card-owner", "ip": "89.160.20.999"}, "ip"},
		{map[string]any{"type": "payment_declined", "user_id": "card-owner", "evaluation_id": "not-hex"}, "evaluation_id"},
		{map[string]any{"type": "payment_declined", "user_id": "card-owner", "device_id": "shop-phone", "timestamp": "yesterday"}, "timestamp"},
	}
	for _, c := range bad {
		status, m := ts.post("/v1/events", c.body)
		if status != http.StatusBadRequest {
			t.Fatalf("%v: status %d, want 400: %v", c.body, status, m)
		}
		if f := errorField(m); f != c.field {
			t.Errorf("%v: the error names %q, want %q", c.body, f, c.field)
		}
	}
	f := explainFeatures(ts, checkout)
	if f["user_declines_1h"] != 0.0 || f["device_declines_1h"] != 0.0 || f["ip_declines_1h"] != 0.0 {
		t.Fatalf("refused outcomes counted declines: user %v device %v ip %v", f["user_declines_1h"], f["device_declines_1h"], f["ip_declines_1h"])
	}
	for range 2 {
		ts.event(map[string]any{"type": "payment_declined", "user_id": "card-owner", "ip": "89.160.20.112", "device_id": "shop-phone"})
	}
	f = explainFeatures(ts, checkout)
	if f["user_declines_1h"] != 2.0 || f["device_declines_1h"] != 2.0 || f["ip_declines_1h"] != 2.0 || f["subnet_declines_1h"] != 2.0 {
		t.Fatalf("declines: user %v device %v ip %v subnet %v, want 2", f["user_declines_1h"], f["device_declines_1h"], f["ip_declines_1h"], f["subnet_declines_1h"])
	}
	if f["user_failures_1h"] != 0.0 || f["ip_failures_1h"] != 0.0 {
		t.Fatalf("declines counted as failed logins: user %v ip %v", f["user_failures_1h"], f["ip_failures_1h"])
	}
	// Two checkouts of this user were decided before this one: the scoped counts see them, a login reads none.
	if f["user_checkouts_1h"] != 2.0 || f["device_small_checkouts_1h"] != 2.0 {
		t.Fatalf("checkouts %v, small checkouts %v, want 2", f["user_checkouts_1h"], f["device_small_checkouts_1h"])
	}
	l := explainFeatures(ts, map[string]any{"type": "login", "user_id": "card-owner", "ip": "89.160.20.112", "device_id": "shop-phone", "credentials_valid": true})
	if l["user_checkouts_1h"] != 0.0 || l["device_declines_1h"] != 0.0 {
		t.Fatalf("a login reads checkout counts: %v %v", l["user_checkouts_1h"], l["device_declines_1h"])
	}
}

// TestHostileRegistrationFlood: refused registrations count nothing; a flood of registrations from one address
// and device with a new user id each time is counted per address and device, and refused by the built-in rules
// long before the tables it fills could matter.
func TestHostileRegistrationFlood(t *testing.T) {
	ts := start(t)
	for _, body := range []map[string]any{
		{"type": "registration", "ip": "89.160.20.112", "device_id": "farm-1", "amount": "1"},
		{"type": "registration", "ip": "not-an-ip", "device_id": "farm-1"},
		{"type": "registration", "ip": "89.160.20.112", "device_id": 5},
		{"type": "registration", "ip": "89.160.20.112", "device_id": "farm-1", "credentials_valid": "yes"},
	} {
		if status, m := ts.post("/v1/decide", body); status != http.StatusBadRequest {
			t.Fatalf("%v: status %d, want 400: %v", body, status, m)
		}
	}
	f := explainFeatures(ts, map[string]any{"type": "registration", "ip": "89.160.20.112", "device_id": "farm-1"})
	if f["ip_registrations_1m"] != 0.0 || f["device_registrations_24h"] != 0.0 {
		t.Fatalf("refused registrations were counted: ip %v device %v", f["ip_registrations_1m"], f["device_registrations_24h"])
	}
	var last decision
	for i := range 30 {
		last = ts.decide(map[string]any{"type": "registration", "user_id": fmt.Sprintf("farmed-%d", i), "ip": "89.160.20.112", "device_id": "farm-1"})
	}
	if last.Decision != "deny" {
		t.Fatalf("the 31st registration from one device and address in a minute: %s, want deny", last.Decision)
	}
	f = explainFeatures(ts, map[string]any{"type": "registration", "user_id": "farmed-x", "ip": "89.160.20.112", "device_id": "farm-1"})
	if f["ip_registrations_1m"] != 31.0 || f["device_registrations_24h"] != 31.0 || f["device_accounts_24h"] != 8.0 {
		t.Fatalf("ip %v device %v accounts %v, want 31, 31 and 8 (the distinct count stops at 8)",
			f["ip_registrations_1m"], f["device_registrations_24h"], f["device_accounts_24h"])
	}
}
