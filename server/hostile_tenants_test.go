package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/server"
)

// Keys of the tenant tests: one identity server for every brand, one restricted to brand-a, one restricted to
// brand-b, one that may also explain, and the analysts'.
const (
	secretTenantIdP     = "rk_tenant-idp-secret-for-tests-only"
	secretTenantA       = "rk_tenant-brand-a-secret-for-tests-only"
	secretTenantB       = "rk_tenant-brand-b-secret-for-tests-only"
	secretTenantExplain = "rk_tenant-explainer-secret-for-tests-only"
	secretTenantAdmin   = "rk_tenant-admin-secret-for-tests-only"
)

func tenantKeyring(t *testing.T) *server.Keyring {
	t.Helper()
	kr, err := server.ParseKeyring([]byte(`keys:
  - {name: idp, sha256: ` + server.HashSecret(secretTenantIdP) + `, scopes: [decide]}
  - {name: brand-a-idp, sha256: ` + server.HashSecret(secretTenantA) + `, scopes: [decide], tenants: [brand-a]}
  - {name: brand-b-idp, sha256: ` + server.HashSecret(secretTenantB) + `, scopes: [decide], tenants: [brand-b]}
  - {name: explainer, sha256: ` + server.HashSecret(secretTenantExplain) + `, scopes: [decide, explain]}
  - {name: analyst, sha256: ` + server.HashSecret(secretTenantAdmin) + `, scopes: [admin]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// syncBuffer is an audit writer tests read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the audit records written so far.
func (b *syncBuffer) records(t *testing.T) []server.AuditRecord {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []server.AuditRecord
	for line := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r server.AuditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// find returns the audit records of action.
func find(records []server.AuditRecord, action string) []server.AuditRecord {
	var out []server.AuditRecord
	for _, r := range records {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

func startTenants(t *testing.T, configure func(*server.Config)) *testServer {
	return startWith(t, func(c *server.Config) {
		c.Keys = tenantKeyring(t)
		if configure != nil {
			configure(c)
		}
	})
}

// TestExplainNeedsTheExplainScope: a key that may only decide read any user's features (devices known, logins,
// failures, habits) with ?explain=1. Explaining now needs the explain (or admin) scope; a decide-only key is
// refused with 403 naming it, before anything is evaluated or counted.
func TestExplainNeedsTheExplainScope(t *testing.T) {
	ts := startTenants(t, nil)
	t0 := base()
	ev := login("xena", ipMilton, "xena-laptop", t0)

	ts.bearer = secretTenantIdP
	status, m := ts.post("/v1/decide?explain=1", ev)
	if status != http.StatusForbidden || errorCode(m) != "forbidden_scope" || m["features"] != nil {
		t.Fatalf("decide-only key asking for an explanation: %d %v, want 403 forbidden_scope", status, m)
	}
	if field := m["error"].(map[string]any)["field"]; field != "explain" {
		t.Fatalf("the refusal names field %v, want explain", field)
	}
	// Refused before evaluation: the user is unknown still.
	ts.bearer = secretTenantAdmin
	if status, _ := ts.do(http.MethodGet, "/v1/users/xena", "", nil); status != http.StatusNotFound {
		t.Fatalf("a refused explain taught the user: export %d", status)
	}

	ts.bearer = secretTenantIdP
	if status, m := ts.post("/v1/decide?explain=0", ev); status != http.StatusOK || m["features"] != nil {
		t.Fatalf("decide-only key without explain: %d %v", status, m)
	}
	ts.bearer = secretTenantExplain
	status, m = ts.post("/v1/decide?explain=1", login("xena", ipMilton, "xena-laptop", t0.Add(time.Minute)))
	if status != http.StatusOK || m["features"] == nil {
		t.Fatalf("explain key: %d %v", status, m)
	}
	if f := m["features"].(map[string]any); f["user_logins"] != 1.0 {
		t.Fatalf("explained features: user_logins %v, want 1", f["user_logins"])
	}
}

// failingWriter is an audit log whose writes fail (a full disk, a closed pipe).
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestErasureRefusedWhenItCannotBeAudited: an erasure whose audit record could not be written was made all the
// same and answered 204, leaving no trace of who erased whom. The record is now written first: when it fails the
// answer is 500 audit_unavailable and nothing is erased, so the caller can retry.
func TestErasureRefusedWhenItCannotBeAudited(t *testing.T) {
	ts := startTenants(t, func(c *server.Config) { c.Auditor = server.NewAuditor(failingWriter{}) })
	ts.bearer = secretTenantIdP
	ts.decide(login("yuri", ipMilton, "yuri-laptop", base()))

	ts.bearer = secretTenantAdmin
	status, m := ts.do(http.MethodDelete, "/v1/users/yuri", "", nil)
	if status != http.StatusInternalServerError || errorCode(m) != "audit_unavailable" {
		t.Fatalf("erasure with a failing audit log: %d %v, want 500 audit_unavailable", status, m)
	}
	var held loginsHeld
	ts.export("yuri", &held)
	if held.Logins != 1 {
		t.Fatalf("the refused erasure erased: %+v", held)
	}
}

// TestAdminReadsAreAuditedWithTheirSource: exports, rule validations, backtests and profiles were not audited,
// and no record said where a request came from.
func TestAdminReadsAreAuditedWithTheirSource(t *testing.T) {
	var audit syncBuffer
	ts := startTenants(t, func(c *server.Config) {
		c.Auditor = server.NewAuditor(&audit)
		c.Pprof = true
		c.DecisionLogDir = t.TempDir()
	})
	ts.bearer = secretTenantIdP
	ts.decide(login("zoe", ipMilton, "zoe-laptop", base()))

	ts.bearer = secretTenantAdmin
	var held loginsHeld
	ts.export("zoe", &held)
	const set = "version: audited\nthresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: tor, when: is_tor, score: 60}\n"
	if status, m := ts.do(http.MethodPost, "/v1/rules/validate", "application/yaml", []byte(set)); status != http.StatusOK {
		t.Fatalf("validate: %d %v", status, m)
	}
	ts.do(http.MethodPost, "/v1/rules/backtest", "application/yaml", []byte(set)) // answered 422 on an empty log: audited all the same
	req, _ := http.NewRequest(http.MethodGet, ts.base+"/debug/pprof/cmdline", nil)
	req.Header.Set("Authorization", "Bearer "+secretTenantAdmin)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pprof: %d", resp.StatusCode)
	}
	if status, _ := ts.do(http.MethodDelete, "/v1/users/zoe", "", nil); status != http.StatusNoContent {
		t.Fatalf("erase: %d", status)
	}

	recs := audit.records(t)
	for _, action := range []string{"user.export", "rules.validate", "rules.backtest", "pprof", "user.erase"} {
		got := find(recs, action)
		if len(got) == 0 {
			t.Errorf("no %s record in %+v", action, recs)
			continue
		}
		for _, r := range got {
			if r.Who != "analyst" || !strings.HasPrefix(r.Source, "127.0.0.1:") {
				t.Errorf("%s record without its caller and source: %+v", action, r)
			}
		}
	}
	if p := find(recs, "pprof"); len(p) == 1 && (p[0].Target != "/debug/pprof/cmdline" || !strings.Contains(p[0].Source, "forwarded-for 203.0.113.9")) {
		t.Errorf("pprof record: %+v", p[0])
	}
	if e := find(recs, "user.export"); len(e) == 1 && (e[0].Result != "ok" || strings.Contains(e[0].Target, "zoe")) {
		t.Errorf("export record: %+v", e[0])
	}
	// The erasure is recorded before it is made, then with its result.
	if e := find(recs, "user.erase"); len(e) != 2 || e[0].Result != "requested" || e[1].Result != "ok" {
		t.Errorf("erasure records: %+v", e)
	}
}
