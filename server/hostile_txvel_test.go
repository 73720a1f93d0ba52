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

// TestTransactionVelocityExportAndErasure: a user's checkouts and declines are counted under keys of their own,
// which the export shows and the erasure removes with the rest of the user's data.
func TestTransactionVelocityExportAndErasure(t *testing.T) {
	ts := start(t)
	ts.decide(map[string]any{"type": "checkout", "user_id": "leaver", "ip": "89.160.20.112", "device_id": "l-phone", "amount": 2, "currency": "EUR"})
	ts.event(map[string]any{"type": "payment_declined", "user_id": "leaver", "ip": "89.160.20.112", "device_id": "l-phone"})
	status, m := ts.do(http.MethodGet, "/v1/users/leaver", "", nil)
	if status != http.StatusOK {
		t.Fatalf("export: %d %v", status, m)
	}
	tx, _ := m["transaction_velocity"].(map[string]any)
	hour := func(name string) any {
		w, _ := tx[name].(map[string]any)
		return w["1h"]
	}
	if hour("checkouts") != 1.0 || hour("declines") != 1.0 || hour("small_checkouts") != 1.0 || hour("registrations") != 0.0 {
		t.Fatalf("transaction_velocity %v, want one checkout, one decline, one small checkout", tx)
	}
	if status, m := ts.do(http.MethodDelete, "/v1/users/leaver", "", nil); status != http.StatusOK && status != http.StatusNoContent {
		t.Fatalf("erase: %d %v", status, m)
	}
	if status, m := ts.do(http.MethodGet, "/v1/users/leaver", "", nil); status != http.StatusNotFound {
		t.Fatalf("export after erasure: %d %v, want 404", status, m)
	}
	f := explainFeatures(ts, map[string]any{"type": "checkout", "user_id": "leaver", "ip": "2.125.160.216", "device_id": "other", "amount": 50, "currency": "EUR"})
	if f["user_checkouts_24h"] != 0.0 || f["user_declines_24h"] != 0.0 {
		t.Fatalf("the erased user's checkouts %v and declines %v outlive the erasure", f["user_checkouts_24h"], f["user_declines_24h"])
	}
}

// TestHostileDeclineRepeated: a decline sent again for the same checkout (a retried webhook, a replay) counts
// once when it names the checkout's evaluation.
func TestHostileDeclineRepeated(t *testing.T) {
	ts := start(t)
	checkout := map[string]any{"type": "checkout", "user_id": "retry", "ip": "89.160.20.112", "device_id": "r-phone", "amount": 40, "currency": "EUR"}
	d := ts.decide(checkout)
	id, _ := d.raw["evaluation_id"].(string)
	for range 3 {
		ts.event(map[string]any{"type": "payment_declined", "user_id": "retry", "ip": "89.160.20.112", "device_id": "r-phone", "evaluation_id": id})
	}
	f := explainFeatures(ts, checkout)
	if f["user_declines_1h"] != 1.0 || f["device_declines_1h"] != 1.0 {
		t.Fatalf("one decline sent three times for one checkout counts user %v device %v, want 1", f["user_declines_1h"], f["device_declines_1h"])
	}
}
