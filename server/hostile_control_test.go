package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/server"
)

// TestHostileControl sends the control plane's endpoints, and the notes of changes, what an attacker or a
// broken client would: each is refused with a JSON error naming the field, and nothing changes.
func TestHostileControl(t *testing.T) {
	ts := startWith(t, func(c *server.Config) {
		c.Keys = testKeyring(t)
		c.Lists = lists.NewRegistry(lists.Hashers{User: func(string) uint64 { return 1 }, Device: func(string) uint64 { return 2 }}, nil)
	})
	ts.bearer = secretAdmin
	good := []byte("version: good-1\nthresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: tor, when: is_tor, score: 60}\n")
	if status, m := ts.do("PUT", "/v1/rules?note=baseline", "application/yaml", good); status != 200 {
		t.Fatalf("PUT /v1/rules: %d %v", status, m)
	}
	history := func() int {
		t.Helper()
		status, m := ts.do("GET", "/v1/control/rules/versions?limit=100", "", nil)
		if status != 200 {
			t.Fatalf("history: %d %v", status, m)
		}
		return len(m["versions"].([]any))
	}
	changed := []byte("version: changed\nthresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: tor, when: is_tor, score: 70}\n")
	cases := []struct {
		name, method, path, ct string
		body                   []byte
		status                 int
		code, field            string
	}{
		{"a note too long", "PUT", "/v1/rules?note=" + strings.Repeat("n", 1025), "application/yaml", changed, 400, "invalid_note", "note"},
		{"a note with a newline (log forging)", "PUT", "/v1/rules?note=ok%0A%7B%22fake%22%3A1%7D", "application/yaml", changed, 400, "invalid_note", "note"},
		{"a note not UTF-8", "PUT", "/v1/rules?note=%FF%FE", "application/yaml", changed, 400, "invalid_note", "note"},
		{"a shadow note with an escape", "PUT", "/v1/rules/shadow?note=%1B%5B31m", "application/yaml", changed, 400, "invalid_note", "note"},
		{"a shadow delete with a bad note", "DELETE", "/v1/rules/shadow?note=%00", "", nil, 400, "invalid_note", "note"},
		{"a list change with a bad note", "PUT", "/v1/lists/evil?note=%07", "application/json", []byte(`{"kind":"ip","entries":[{"value":"192.0.2.1"}]}`), 400, "invalid_note", "note"},
		{"rollback without a version", "POST", "/v1/control/rules/rollback", "application/json", []byte(`{}`), 400, "invalid_version", "version"},
		{"rollback to version 0", "POST", "/v1/control/rules/rollback", "application/json", []byte(`{"version":0}`), 400, "invalid_version", "version"},
		{"rollback to a negative version", "POST", "/v1/control/rules/rollback", "application/json", []byte(`{"version":-1}`), 400, "invalid_version", "version"},
		{"rollback to a string", "POST", "/v1/control/rules/rollback", "application/json", []byte(`{"version":"1; DROP"}`), 400, "invalid_version", "version"},
		{"rollback to a huge version", "POST", "/v1/control/rules/rollback", "application/json", []byte(`{"version":1e30}`), 400, "invalid_version", "version"},
		{"rollback with an unknown field", "POST", "/v1/control/rules/rollback", "application/json", []byte(`{"version":1,"force":true}`), 400, "invalid_json", "body"},
		{"rollback not JSON", "POST", "/v1/control/rules/rollback", "application/json", []byte(`version=1`), 400, "invalid_json", "body"},
		{"rollback to a version never made", "POST", "/v1/control/rules/rollback", "application/json", []byte(`{"version":99}`), 404, "no_such_version", "version"},
		{"rollback with a bad note", "POST", "/v1/control/rules/rollback?note=%0D", "application/json", []byte(`{"version":1}`), 400, "invalid_note", "note"},
		{"rollback as a form", "POST", "/v1/control/rules/rollback", "application/x-www-form-urlencoded", []byte(`version=1`), 415, "unsupported_media_type", ""},
		{"rollback by GET", "GET", "/v1/control/rules/rollback", "", nil, 405, "method_not_allowed", ""},
		{"an unknown document", "GET", "/v1/control/keys/versions", "", nil, 404, "no_such_document", "document"},
		{"a document name with a traversal", "GET", "/v1/control/..%2F..%2Fetc/versions", "", nil, 404, "no_such_document", "document"},
		{"a limit of 0", "GET", "/v1/control/rules/versions?limit=0", "", nil, 400, "invalid_limit", "limit"},
		{"a limit too large", "GET", "/v1/control/rules/versions?limit=100000", "", nil, 400, "invalid_limit", "limit"},
		{"a limit not a number", "GET", "/v1/control/rules/versions?limit=ten", "", nil, 400, "invalid_limit", "limit"},
		{"a version not a number", "GET", "/v1/control/rules/versions/latest", "", nil, 400, "invalid_version", "version"},
		{"version 0", "GET", "/v1/control/rules/versions/0", "", nil, 400, "invalid_version", "version"},
		{"a version beyond uint64", "GET", "/v1/control/rules/versions/18446744073709551616", "", nil, 400, "invalid_version", "version"},
		{"a version never made", "GET", "/v1/control/rules/versions/7", "", nil, 404, "no_such_version", "version"},
		{"history by POST", "POST", "/v1/control/rules/versions", "application/json", []byte(`{}`), 405, "method_not_allowed", ""},
		{"the status by DELETE", "DELETE", "/v1/control", "", nil, 405, "method_not_allowed", ""},
		{"a path below a version", "GET", "/v1/control/rules/versions/1/files", "", nil, 404, "not_found", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m := ts.do(c.method, c.path, c.ct, c.body)
			e, _ := m["error"].(map[string]any)
			if status != c.status || errorCode(m) != c.code || (c.field != "" && e["field"] != c.field) {
				t.Fatalf("%s %s: %d %v, want %d %s naming %q", c.method, c.path, status, m, c.status, c.code, c.field)
			}
		})
	}
	// Nothing above changed anything: the rules, the history, the shadow and the lists are as they were.
	if v := ts.rulesVersion(); v != "good-1" {
		t.Fatalf("rules %q after the hostile requests", v)
	}
	if n := history(); n != 1 {
		t.Fatalf("%d versions of the rules after the hostile requests, want 1", n)
	}
	if status, _ := ts.do("GET", "/v1/lists/evil", "", nil); status != 404 {
		t.Fatalf("a list refused for its note exists: %d", status)
	}
	if status, m := ts.do("GET", "/v1/control", "", nil); status != 200 || fmt.Sprint(m["documents"]) !=
		"[map[document:rules label:good-1 latest:1 serving:1] map[document:shadow latest:0 serving:0] map[document:lists latest:0 serving:0] map[document:exceptions latest:0 serving:0]]" {
		t.Fatalf("control status after the hostile requests: %d %v", status, m)
	}

	// A key limited to tenants may not read or change the control plane, which all tenants share.
	ts.bearer = secretBrandAd
	for _, p := range []string{"/v1/control", "/v1/control/rules/versions"} {
		if status, m := ts.do("GET", p, "", nil); status != 403 || errorCode(m) != "forbidden" {
			t.Fatalf("a tenant's admin key on %s: %d %v", p, status, m)
		}
	}
	if status, m := ts.do("POST", "/v1/control/rules/rollback", "application/json", []byte(`{"version":1}`)); status != 403 {
		t.Fatalf("a tenant's admin key rolled back: %d %v", status, m)
	}
	ts.bearer = secretIdP
	if status, _ := ts.do("GET", "/v1/control/rules/versions", "", nil); status != 403 {
		t.Fatalf("a decide key read the history: %d", status)
	}
	ts.bearer = ""
	if status, _ := ts.do("GET", "/v1/control", "", nil); status != 401 {
		t.Fatalf("no key read the control status: %d", status)
	}
}

// TestHostileControlRollbackRefused: a rollback to a version that does not pass the gate on this instance (a
// set whose tests need GeoIP data this instance lacks) is refused with 422 naming the version, and nothing
// changes; the instance that can pass it rolls back.
func TestHostileControlRollbackRefused(t *testing.T) {
	shared := control.NewMemory()
	withPlane := func(c *server.Config) {
		c.RuleGate = rules.NewGate()
		p, err := control.New(control.Config{Store: shared, Metrics: c.Metrics,
			Documents: server.ControlDocuments(c.Engine, nil, c.RuleGate, time.Minute, server.VersionBases(shared.Get))})
		if err != nil {
			t.Fatal(err)
		}
		c.Control = p
	}
	a := startWith(t, withPlane)
	b := startWith(t, withPlane, func(c *engine.Config) {
		db, err := geo.Open(geo.Config{})
		if err != nil {
			t.Fatal(err)
		}
		c.Extractor = features.NewExtractor(features.NewHasher([]byte("test")), features.NewState(0), db)
	})
	if status, m := a.do("PUT", "/v1/rules", "application/yaml", ruleSet("needs-city")); status != 200 {
		t.Fatalf("PUT: %d %v", status, m)
	}
	if status, m := a.do("PUT", "/v1/rules", "application/yaml", []byte("version: plain\nthresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: tor, when: is_tor, score: 60}\n")); status != 200 {
		t.Fatalf("PUT: %d %v", status, m)
	}
	status, m := b.do("POST", "/v1/control/rules/rollback?note=back", "application/json", []byte(`{"version":1}`))
	if e, _ := m["error"].(map[string]any); status != 422 || errorCode(m) != "rollback_refused" || e["field"] != "version" ||
		!strings.Contains(e["message"].(string), "london steps up") {
		t.Fatalf("rollback on the instance that cannot pass it: %d %v", status, m)
	}
	if status, m := b.do("GET", "/v1/control/rules/versions", "", nil); status != 200 || len(m["versions"].([]any)) != 2 {
		t.Fatalf("a refused rollback made a version: %d %v", status, m)
	}
	if status, m := a.do("POST", "/v1/control/rules/rollback?note=back", "application/json", []byte(`{"version":1}`)); status != 200 || m["version"] != float64(3) {
		t.Fatalf("rollback on the instance that can: %d %v", status, m)
	}
	if v := a.rulesVersion(); v != "needs-city" {
		t.Fatalf("after the rollback a serves %q", v)
	}
}
