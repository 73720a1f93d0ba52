package server_test

import (
	"net/http"
	"slices"
	"strconv"
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

// TestPutRulesExtendingAStoredVersion: a set may extend a version the control plane stores (`rules@N`, the
// numbers of GET /v1/control/rules/versions), which compiles alike wherever it is applied. A version that is
// not stored, or one that holds no files, is refused at the line of `extends`, the live set unchanged.
func TestPutRulesExtendingAStoredVersion(t *testing.T) {
	ts := start(t)
	if status, m := ts.do(http.MethodPut, "/v1/rules", "application/yaml", []byte(extensionStream)); status != 200 {
		t.Fatalf("PUT the base: %d %v", status, m)
	}
	_, hist := ts.do(http.MethodGet, "/v1/control/rules/versions", "", nil)
	versions, _ := hist["versions"].([]any)
	if len(versions) == 0 {
		t.Fatalf("no history: %v", hist)
	}
	newest, _ := versions[0].(map[string]any)["version"].(float64)

	layered := "extends: rules@" + strconv.Itoa(int(newest)) + `
version: brand-ext-2
rules:
  - {id: tiny_checkouts, description: Checkouts under one euro., when: event == "checkout" && amount < 1, score: 10}
`
	if status, m := ts.do(http.MethodPut, "/v1/rules", "application/yaml", []byte(layered)); status != 200 {
		t.Fatalf("PUT an extension of rules@%d: %d %v", int(newest), status, m)
	}
	d := ts.decide(map[string]any{"type": "checkout", "user_id": "gc-user", "ip": ipMilton, "device_id": "gc-device",
		"amount": 700, "currency": "GBP", "timestamp": at(time.Now())})
	if !slices.Contains(d.Codes, "gift_cards") {
		t.Fatalf("decision %+v, want the stored version's rule", d)
	}
	if d = ts.decide(login("gc-tor", ipTor, "gc-tor-device", time.Now())); !slices.Contains(d.Codes, "tor_exit") {
		t.Fatalf("decision %+v, want the built-in rules under the stored version", d)
	}

	for base, want := range map[string]string{
		"rules@99":  "rules has no version 99",
		"shadow@1":  "shadow has no version 1",
		"rules@x":   "or a stored version as rules@N or shadow@N",
		"lists@1":   "or a stored version as rules@N or shadow@N",
		"somewhere": "or a stored version as rules@N or shadow@N",
	} {
		status, m := ts.do(http.MethodPut, "/v1/rules", "application/yaml", []byte("extends: "+base+"\nversion: nope\n"))
		if status != 422 || !strings.Contains(errorMessage(m), "request:1: extends: \""+base+"\"") || !strings.Contains(errorMessage(m), want) {
			t.Errorf("extends %s: %d %v, want 422 at line 1 saying %q", base, status, m, want)
		}
	}
	if _, live := ts.do(http.MethodGet, "/v1/rules", "", nil); live["version"] != "brand-ext-2" {
		t.Fatalf("live version %v after refused sets", live["version"])
	}
}
