package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// extensionStream is a set of two files in one body: an extension of the built-in set, then its tests.
const extensionStream = `extends: builtin
version: brand-ext-1
rules:
  - {id: gift_cards, description: Gift cards are resold., when: event == "checkout" && currency == "GBP" && amount >= 500, action: step_up}
---
tests:
  - name: a gift card checkout steps up
    when: {type: checkout, user_id: u, ip: 216.160.83.56, device_id: d, amount: 600, currency: GBP, timestamp: now}
    expect: {decision: step_up, reasons: [gift_cards]}
`

// TestPutRulesExtendingBuiltin: PUT /v1/rules takes a set of several files as one YAML stream, and an
// extension of the built-in set needs only what it adds. Its tests and the built-in set's run over the
// server's GeoIP databases before it serves.
func TestPutRulesExtendingBuiltin(t *testing.T) {
	ts := start(t)
	for _, path := range []string{"/v1/rules/validate", "/v1/rules"} {
		method := http.MethodPost
		if path == "/v1/rules" {
			method = http.MethodPut
		}
		if status, m := ts.do(method, path, "application/yaml", []byte(extensionStream)); status != 200 {
			t.Fatalf("%s %s: %d %v", method, path, status, m)
		}
	}
	_, live := ts.do(http.MethodGet, "/v1/rules", "", nil)
	if live["version"] != "brand-ext-1" {
		t.Fatalf("live version %v", live["version"])
	}
	ev := map[string]any{"type": "checkout", "user_id": "gc-user", "ip": ipMilton, "device_id": "gc-device",
		"amount": 700, "currency": "GBP", "timestamp": at(time.Now())}
	d := ts.decide(ev)
	if !slices.Contains(d.Codes, "gift_cards") || d.Decision != "step_up" {
		t.Fatalf("decision %+v, want the extension's rule", d)
	}
	d = ts.decide(login("gc-tor", ipTor, "gc-tor-device", time.Now()))
	if !slices.Contains(d.Codes, "tor_exit") {
		t.Fatalf("decision %+v, want the built-in rules still there", d)
	}

	// A misspelt key in the second document is refused at its line, the live set unchanged.
	bad := extensionStream + "---\nrules:\n  - {id: oops, when: is_tor, scor: 5}\n"
	status, m := ts.do(http.MethodPut, "/v1/rules", "application/yaml", []byte(bad))
	if status != 422 || errorCode(m) != "invalid_rules" || !strings.Contains(errorMessage(m), `request:12: rule file syntax: rule "oops": unknown key "scor"`) {
		t.Fatalf("bad stream: %d %v", status, m)
	}
}
