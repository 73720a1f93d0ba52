package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestHostileCheckoutInputRefused: a bad amount/currency pair, an unknown outcome, a malformed attribute and
// an outcome in an unknown currency are each a 400 naming the field, and none of them changes any state: the
// customer's profile (spend, sequences) and the address's counters are as they were.
func TestHostileCheckoutInputRefused(t *testing.T) {
	ts := start(t)
	const ip = "203.0.113.77"
	// A customer with a profile, so that a rejected sequence or purchase would show in the export.
	ts.decide(map[string]any{"type": "login", "user_id": "cas", "ip": "216.160.83.56", "device_id": "cas-phone", "credentials_valid": true})
	_, before := ts.do(http.MethodGet, "/v1/users/cas", "", nil)
	checkout := func(extra string) string {
		return `{"type":"checkout","user_id":"cas","ip":"` + ip + `","device_id":"cas-phone"` + extra + `}`
	}
	outcome := func(extra string) string {
		return `{"user_id":"cas","ip":"` + ip + `","device_id":"cas-phone"` + extra + `}`
	}
	cases := []struct {
		name, path, body string
		code, field      string
	}{
		{"unknown currency", "/v1/decide", checkout(`,"amount":10,"currency":"XXX"`), "unknown_currency", "currency"},
		{"lower-case currency", "/v1/decide", checkout(`,"amount":10,"currency":"eur"`), "invalid_currency", "currency"},
		{"amount without currency", "/v1/decide", checkout(`,"amount":10`), "missing_field", "currency"},
		{"currency without amount", "/v1/decide", checkout(`,"currency":"EUR"`), "missing_field", "amount"},
		{"negative amount", "/v1/decide", checkout(`,"amount":-0.01,"currency":"EUR"`), "invalid_amount", "amount"},
		{"amount as a string", "/v1/decide", checkout(`,"amount":"10","currency":"EUR"`), "invalid_amount", "amount"},
		{"NaN amount", "/v1/decide", checkout(`,"amount":NaN,"currency":"EUR"`), "invalid_amount", "amount"},
		{"exponent amount with too many decimals", "/v1/decide", checkout(`,"amount":1.5e-7,"currency":"EUR"`), "invalid_amount", "amount"},
		{"float printed carelessly", "/v1/decide", checkout(`,"amount":12.30000000000001,"currency":"EUR"`), "invalid_amount", "amount"},
		{"too many decimals", "/v1/decide", checkout(`,"amount":10.1234567,"currency":"EUR"`), "invalid_amount", "amount"},
		{"too many digits", "/v1/decide", checkout(`,"amount":12345678901234567,"currency":"EUR"`), "invalid_amount", "amount"},
		{"malformed email domain", "/v1/decide", checkout(`,"amount":10,"currency":"EUR","attributes":{"email_domain":"Mail@Example"}`), "invalid_attribute", "attributes.email_domain"},
		{"malformed country", "/v1/decide", checkout(`,"amount":10,"currency":"EUR","attributes":{"shipping_country":"Sweden"}`), "invalid_attribute", "attributes.shipping_country"},
		{"card number as fingerprint", "/v1/decide", checkout(`,"amount":10,"currency":"EUR","attributes":{"payment_fingerprint":"4111 1111 1111 1111"}`), "invalid_attribute", "attributes.payment_fingerprint"},
		{"attribute name with capitals", "/v1/decide", checkout(`,"amount":10,"currency":"EUR","attributes":{"Email":"x"}`), "invalid_attribute", "attributes.Email"},
		{"attribute of the wrong type", "/v1/decide", checkout(`,"amount":10,"currency":"EUR","attributes":{"card_bin":411111}`), "invalid_type", "attributes"},
		{"unknown outcome", "/v1/events", outcome(`,"type":"checkout_completd","amount":10,"currency":"EUR"`), "invalid_type", "type"},
		{"purchase without amount", "/v1/events", outcome(`,"type":"checkout_completed"`), "missing_field", "amount"},
		{"purchase without currency", "/v1/events", outcome(`,"type":"checkout_completed","amount":10`), "missing_field", "currency"},
		{"purchase in an unknown currency", "/v1/events", outcome(`,"type":"checkout_completed","amount":10,"currency":"XXX"`), "unknown_currency", "currency"},
		{"purchase with a negative amount", "/v1/events", outcome(`,"type":"checkout_completed","amount":-1,"currency":"EUR"`), "invalid_amount", "amount"},
		{"amount on a login outcome", "/v1/events", outcome(`,"type":"login_succeeded","amount":10,"currency":"EUR"`), "unexpected_field", "amount"},
		{"payment change with a bad attribute", "/v1/decide", `{"type":"payment_method_change","user_id":"cas","ip":"` + ip + `","device_id":"new-pc","attributes":{"card_bin":"41x"}}`, "invalid_attribute", "attributes.card_bin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m := ts.do(http.MethodPost, c.path, "application/json", []byte(c.body))
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %v", status, m)
			}
			e, ok := m["error"].(map[string]any)
			if !ok || e["code"] != c.code || (c.field != "" && e["field"] != c.field) || e["message"] == "" {
				t.Fatalf("error %v, want code %q field %q", m["error"], c.code, c.field)
			}
		})
	}
	_, after := ts.do(http.MethodGet, "/v1/users/cas", "", nil)
	for _, k := range []string{"spending", "sensitive_changes", "devices", "successful_logins"} {
		if !jsonEqual(before[k], after[k]) {
			t.Errorf("%s changed by rejected requests: %v -> %v", k, before[k], after[k])
		}
	}
	status, m := ts.post("/v1/decide?explain=1", map[string]any{"type": "login", "user_id": "other", "ip": ip})
	if status != http.StatusOK {
		t.Fatalf("explain: %d %v", status, m)
	}
	if f := m["features"].(map[string]any); f["ip_attempts_24h"] != 0.0 {
		t.Fatalf("rejected requests were counted: ip_attempts_24h=%v", f["ip_attempts_24h"])
	}
}

// TestCheckoutCompletedTeachesSpendOnce: a purchase reported with its evaluation id shows in the export once,
// however often it is delivered, in the reporting currency; erasure removes it.
func TestCheckoutCompletedTeachesSpendOnce(t *testing.T) {
	ts := start(t)
	ts.decide(map[string]any{"type": "login", "user_id": "pia", "ip": "216.160.83.56", "device_id": "pia-phone", "credentials_valid": true})
	status, m := ts.post("/v1/decide", map[string]any{"type": "checkout", "user_id": "pia", "ip": "216.160.83.56",
		"device_id": "pia-phone", "amount": 5000, "currency": "JPY", "attributes": map[string]string{"email_domain": "example.com"}})
	if status != http.StatusOK {
		t.Fatalf("checkout: %d %v", status, m)
	}
	done := map[string]any{"type": "checkout_completed", "user_id": "pia", "device_id": "pia-phone",
		"evaluation_id": m["evaluation_id"], "amount": 5000, "currency": "JPY"}
	ts.event(done)
	ts.event(done)
	_, u := ts.do(http.MethodGet, "/v1/users/pia", "", nil)
	sp, ok := u["spending"].(map[string]any)
	if !ok || sp["purchases"] != 1.0 || sp["reporting_currency"] != "EUR" || sp["largest_amount"].(float64) > 50 {
		t.Fatalf("spending after one purchase of 5,000 JPY told twice: %v", u["spending"])
	}
	if status, _ := ts.do(http.MethodDelete, "/v1/users/pia", "", nil); status != http.StatusNoContent {
		t.Fatalf("erase: %d", status)
	}
	if status, _ := ts.do(http.MethodGet, "/v1/users/pia", "", nil); status != http.StatusNotFound {
		t.Fatalf("export after erasure: %d, want 404", status)
	}
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
