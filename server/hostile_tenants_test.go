package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/engine"
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
	secretTenantAAdmin  = "rk_tenant-brand-a-admin-secret-for-tests-only"
)

func tenantKeyring(t *testing.T) *server.Keyring {
	t.Helper()
	kr, err := server.ParseKeyring([]byte(`keys:
  - {name: idp, sha256: ` + server.HashSecret(secretTenantIdP) + `, scopes: [decide]}
  - {name: brand-a-idp, sha256: ` + server.HashSecret(secretTenantA) + `, scopes: [decide], tenants: [brand-a]}
  - {name: brand-b-idp, sha256: ` + server.HashSecret(secretTenantB) + `, scopes: [decide], tenants: [brand-b]}
  - {name: explainer, sha256: ` + server.HashSecret(secretTenantExplain) + `, scopes: [decide, explain]}
  - {name: analyst, sha256: ` + server.HashSecret(secretTenantAdmin) + `, scopes: [admin]}
  - {name: brand-a-analyst, sha256: ` + server.HashSecret(secretTenantAAdmin) + `, scopes: [admin], tenants: [brand-a]}
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

func startTenants(t *testing.T, configure func(*server.Config), engineOpts ...func(*engine.Config)) *testServer {
	return startWith(t, func(c *server.Config) {
		c.Keys = tenantKeyring(t)
		if configure != nil {
			configure(c)
		}
	}, engineOpts...)
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
	// A heap dump holds every tenant's requests: not for a key restricted to tenants.
	ts.bearer = secretTenantAAdmin
	if status, m := ts.do(http.MethodGet, "/debug/pprof/cmdline", "", nil); status != http.StatusForbidden {
		t.Fatalf("pprof with a tenant admin key: %d %v", status, m)
	}
	ts.bearer = secretTenantAdmin
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
	if p := find(recs, "pprof"); len(p) != 1 || p[0].Target != "/debug/pprof/cmdline" || !strings.Contains(p[0].Source, "forwarded-for 203.0.113.9") {
		t.Errorf("pprof records: %+v, want the one served", p)
	}
	if e := find(recs, "user.export"); len(e) != 1 || e[0].Result != "ok" || strings.Contains(e[0].Target, "zoe") {
		t.Errorf("export records: %+v", e)
	}
	// The erasure is recorded before it is made, then with its result.
	if e := find(recs, "user.erase"); len(e) != 2 || e[0].Result != "requested" || e[1].Result != "ok" {
		t.Errorf("erasure records: %+v", e)
	}
}

// as sends the rest of a test's requests with the key of secret.
func (ts *testServer) as(secret string) *testServer { ts.bearer = secret; return ts }

// exportRaw reads GET /v1/users/{id} as the analyst, as JSON.
func (ts *testServer) exportRaw(user string) map[string]any {
	ts.t.Helper()
	prev := ts.bearer
	defer func() { ts.bearer = prev }()
	ts.bearer = secretTenantAdmin
	status, m := ts.do(http.MethodGet, "/v1/users/"+user, "", nil)
	if status != http.StatusOK {
		ts.t.Fatalf("export %s: %d %v", user, status, m)
	}
	return m
}

// explainAt decides ev for tenant with the explaining key and returns the decision and its features.
func (ts *testServer) explainAt(tenant string, ev map[string]any) (decision, map[string]any) {
	ts.t.Helper()
	prev := ts.bearer
	defer func() { ts.bearer = prev }()
	ts.bearer = secretTenantExplain
	ev["tenant"] = tenant
	status, m := ts.post("/v1/decide?explain=1", ev)
	if status != http.StatusOK {
		ts.t.Fatalf("explain at %s: %d %v", tenant, status, m)
	}
	return toDecision(ts.t, m), m["features"].(map[string]any)
}

func at_(tenant string, ev map[string]any) map[string]any { ev["tenant"] = tenant; return ev }

// TestTenantKeyCannotLabelAnotherTenantsEvaluation: a brand-a key labelled brand-b's evaluation (fraud_confirmed,
// which also forgot the device in the profile every brand shares). Evaluation ids now carry a keyed tag of their
// tenant: an outcome of a key restricted to tenants that names another tenant's evaluation, or an id it made up, is
// refused with 403 and changes nothing.
func TestTenantKeyCannotLabelAnotherTenantsEvaluation(t *testing.T) {
	dir := t.TempDir()
	l, err := decisionlog.Open(decisionlog.Config{Dir: dir, FlushEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ts := startTenants(t, nil, func(c *engine.Config) { c.Log = l })
	t0 := base()
	idB := ts.as(secretTenantB).decide(at_("brand-b", login("wes", ipMilton, "wes-laptop", t0))).raw["evaluation_id"].(string)
	idA := ts.as(secretTenantA).decide(at_("brand-a", login("wes", ipMilton, "wes-laptop", t0.Add(time.Hour)))).raw["evaluation_id"].(string)
	before := ts.exportRaw("wes")

	serial, _ := strconv.ParseUint(idA, 16, 64)
	madeUp := fmt.Sprintf("%016x", serial+1) // the next serial number under brand-a's tag: not an id of brand-a
	ts.as(secretTenantA)
	for _, c := range []struct{ typ, id string }{{"fraud_confirmed", idB}, {"legit_confirmed", idB}, {"mfa_passed", idB}, {"fraud_confirmed", madeUp}} {
		status, m := ts.post("/v1/events", map[string]any{"type": c.typ, "user_id": "wes", "ip": ipMilton, "device_id": "wes-laptop",
			"tenant": "brand-a", "evaluation_id": c.id, "timestamp": at(t0.Add(2 * time.Hour))})
		if status != http.StatusForbidden || errorCode(m) != "forbidden_evaluation" {
			t.Errorf("brand-a key, %s of evaluation %s: %d %v, want 403 forbidden_evaluation", c.typ, c.id, status, m)
		}
	}
	if after := ts.exportRaw("wes"); !reflect.DeepEqual(before, after) {
		t.Fatalf("refused outcomes changed the user:\nbefore %v\nafter  %v", before, after)
	}
	// Its own evaluation, it may label; brand-b's key and the identity server's may label brand-b's.
	ts.as(secretTenantA).event(map[string]any{"type": "legit_confirmed", "user_id": "wes", "tenant": "brand-a", "evaluation_id": idA})
	ts.as(secretTenantB).event(map[string]any{"type": "legit_confirmed", "user_id": "wes", "tenant": "brand-b", "evaluation_id": idB})
	ts.as(secretTenantIdP).event(map[string]any{"type": "fraud_confirmed", "user_id": "wes", "evaluation_id": idB})

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, decisionlog.CurrentName))
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string][]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(raw)), "\n") {
		var r struct{ EvaluationID, Label string }
		if err := json.Unmarshal([]byte(strings.ReplaceAll(line, `"evaluation_id"`, `"evaluationid"`)), &r); err != nil {
			t.Fatal(err)
		}
		if r.Label != "" {
			labels[r.EvaluationID] = append(labels[r.EvaluationID], r.Label)
		}
	}
	if want := map[string][]string{idA: {"legit"}, idB: {"legit", "fraud"}}; !reflect.DeepEqual(labels, want) {
		t.Fatalf("labels in the decision log: %v, want %v", labels, want)
	}
}

// TestTenantKeyTrustIsMarkedWithItsTenant: a brand-a key's mfa_passed made a device trusted for the user at every
// brand (trusted_device at brand-b too: a stolen brand-a key vouched for an attacker's phone everywhere). Trust a key
// restricted to tenants reports now holds for its tenant: other tenants see trusted_by_other_tenant instead of
// trusted_device, and the export says whom the trust is for. The identity server's trust holds for every tenant.
func TestTenantKeyTrustIsMarkedWithItsTenant(t *testing.T) {
	ts := startTenants(t, nil)
	t0 := base()
	ts.as(secretTenantB).decide(at_("brand-b", login("vic", ipMilton, "vic-laptop", t0)))

	t1 := t0.Add(72 * time.Hour)
	ts.as(secretTenantA).event(map[string]any{"type": "mfa_passed", "user_id": "vic", "ip": ipChangchun, "device_id": "evil-phone",
		"tenant": "brand-a", "timestamp": at(t1)})

	d, f := ts.explainAt("brand-b", login("vic", ipChangchun, "evil-phone", t1.Add(time.Hour)))
	if f["trusted_device"] != false || f["trusted_by_other_tenant"] != true || d.has("trusted_device") {
		t.Fatalf("brand-b after brand-a's mfa_passed: trusted_device %v trusted_by_other_tenant %v, reasons %v",
			f["trusted_device"], f["trusted_by_other_tenant"], d.Codes)
	}
	if _, f := ts.explainAt("brand-a", login("vic", ipChangchun, "evil-phone", t1.Add(2*time.Hour))); f["trusted_device"] != true || f["trusted_by_other_tenant"] != false {
		t.Fatalf("brand-a after its own mfa_passed: trusted_device %v trusted_by_other_tenant %v", f["trusted_device"], f["trusted_by_other_tenant"])
	}
	if got := trustedFor(ts.exportRaw("vic")); !reflect.DeepEqual(got, []string{"brand-a"}) {
		t.Fatalf("export: trust held for %v, want [brand-a]", got)
	}

	// The identity server's passed MFA is the identity's: trusted for every tenant.
	ts.as(secretTenantIdP).event(map[string]any{"type": "mfa_passed", "user_id": "vic", "ip": ipChangchun, "device_id": "evil-phone",
		"timestamp": at(t1.Add(3 * time.Hour))})
	if d, f := ts.explainAt("brand-b", login("vic", ipChangchun, "evil-phone", t1.Add(4*time.Hour))); f["trusted_device"] != true || !d.has("trusted_device") {
		t.Fatalf("brand-b after the identity server's mfa_passed: trusted_device %v, reasons %v", f["trusted_device"], d.Codes)
	}
	if got := trustedFor(ts.exportRaw("vic")); !reflect.DeepEqual(got, []string{"*"}) {
		t.Fatalf("export: trust held for %v, want [*]", got)
	}
}

// trustedFor lists the trusted_for of an export's trusted devices.
func trustedFor(export map[string]any) []string {
	var out []string
	for _, d := range export["devices"].([]any) {
		if f, ok := d.(map[string]any)["trusted_for"].(string); ok {
			out = append(out, f)
		}
	}
	return out
}

// TestTenantKeyFailuresBoundToItsAttempts: 25 login_failed from a brand-a key denied the user at brand-b
// (user_brute_force), with no attempt behind them. A key restricted to tenants now reports a failure only of an
// evaluation of its own, once, and not when the decision counted it already: it adds to the failures every brand
// shares no more than the attempts it made, each of them a decision in the log under its tenant.
func TestTenantKeyFailuresBoundToItsAttempts(t *testing.T) {
	ts := startTenants(t, nil)
	t0 := base()
	idB := ts.as(secretTenantB).decide(at_("brand-b", login("uri", ipMilton, "uri-laptop", t0))).raw["evaluation_id"].(string)

	t1 := t0.Add(24 * time.Hour)
	failure := func(i int, id string) map[string]any {
		m := map[string]any{"type": "login_failed", "user_id": "uri", "ip": ipClean, "tenant": "brand-a",
			"timestamp": at(t1.Add(time.Duration(i) * time.Second))}
		if id != "" {
			m["evaluation_id"] = id
		}
		return m
	}
	ts.as(secretTenantA)
	refused := 0
	for i := range 25 {
		if status, m := ts.post("/v1/events", failure(i, "")); status == http.StatusForbidden && errorCode(m) == "evaluation_required" {
			refused++
		}
	}
	if d := ts.as(secretTenantB).decide(at_("brand-b", login("uri", ipMilton, "uri-laptop", t1.Add(time.Second)))); d.Decision == "deny" {
		t.Fatalf("brand-b denies its user after 25 failures a brand-a key reported without attempts: %v", d.Codes)
	}
	if refused != 25 {
		t.Fatalf("%d of 25 brand-a failures without an evaluation refused with 403 evaluation_required", refused)
	}
	ts.as(secretTenantA)
	if status, m := ts.post("/v1/events", failure(0, idB)); status != http.StatusForbidden || errorCode(m) != "forbidden_evaluation" {
		t.Fatalf("brand-a failure of brand-b's evaluation: %d %v", status, m)
	}
	if status, m := ts.post("/v1/events", failure(0, "not-an-id")); status != http.StatusBadRequest || errorCode(m) != "invalid_evaluation_id" {
		t.Fatalf("failure naming no evaluation id: %d %v", status, m)
	}

	// One attempt of its own, reported failed 25 times: one failure.
	idA := ts.decide(at_("brand-a", login("uri", ipClean, "", t1))).raw["evaluation_id"].(string)
	for i := range 25 {
		ts.event(failure(i, idA))
	}
	// An attempt whose decision counted the failure (credentials_valid false): its outcome adds none.
	ev := at_("brand-a", login("uri", ipClean, "", t1.Add(time.Minute)))
	ev["credentials_valid"] = false
	idA2 := ts.decide(ev).raw["evaluation_id"].(string)
	ts.event(failure(61, idA2))

	d, f := ts.explainAt("brand-b", login("uri", ipMilton, "uri-laptop", t1.Add(5*time.Minute)))
	if f["user_failures_1h"] != 2.0 || d.Decision == "deny" || d.has("user_brute_force") {
		t.Fatalf("brand-b after brand-a's reports: user_failures_1h %v, %s %v; want 2 failures", f["user_failures_1h"], d.Decision, d.Codes)
	}

	// The identity server reports every failure it sees, a retried second factor included.
	ts.as(secretTenantIdP)
	for i := range 3 {
		ts.event(map[string]any{"type": "mfa_failed", "user_id": "uri", "ip": ipMilton, "evaluation_id": idB,
			"timestamp": at(t1.Add(6*time.Minute + time.Duration(i)*time.Second))})
	}
	if _, f := ts.explainAt("brand-b", login("uri", ipMilton, "uri-laptop", t1.Add(7*time.Minute))); f["user_failures_1h"] != 5.0 {
		t.Fatalf("after three mfa_failed from the identity server: user_failures_1h %v, want 5", f["user_failures_1h"])
	}
}
