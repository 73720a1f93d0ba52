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
	"github.com/riskd/riskd/store/storetest"
)

// shareControl gives cfg lists, a rule gate and a control plane over the control store of redisAddr, synced,
// started and closed with the test; adjust, when given, changes the plane's configuration first.
func shareControl(t *testing.T, cfg *server.Config, redisAddr string, adjust func(*control.Config)) {
	t.Helper()
	h := features.NewHasher([]byte("test"))
	cfg.Lists = lists.NewRegistry(lists.Hashers{User: h.User, Device: h.Device}, nil)
	cfg.RuleGate = rules.NewGate()
	st, err := control.OpenRedis(control.RedisConfig{Addrs: []string{redisAddr}})
	if err != nil {
		t.Fatal(err)
	}
	pc := control.Config{Store: st, Metrics: cfg.Metrics,
		Documents: server.ControlDocuments(cfg.Engine, cfg.Lists, cfg.RuleGate, time.Minute, server.VersionBases(st.Get))}
	if adjust != nil {
		adjust(&pc)
	}
	plane, err := control.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	if err := plane.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	plane.Start()
	t.Cleanup(func() { plane.Close() })
	cfg.Control = plane
}

// startInstance starts a riskd server whose control plane shares the control store of redisAddr, with the
// analyst's admin key, polling at the default interval. engineOpts change its engine (its GeoIP data).
func startInstance(t *testing.T, redisAddr string, engineOpts ...func(*engine.Config)) *testServer {
	t.Helper()
	ts := startWith(t, func(cfg *server.Config) {
		cfg.Keys = testKeyring(t)
		shareControl(t, cfg, redisAddr, nil)
	}, engineOpts...)
	ts.bearer = secretAdmin
	return ts
}

// ruleSet is a one-rule set of the given version whose test needs the city database: 81.2.69.142 is in
// London in MaxMind's test data, and nowhere without it.
func ruleSet(version string) []byte {
	return []byte("version: " + version + `
thresholds: {step_up: 40, deny: 80}
rules:
  - {id: from_gb, when: 'country == "GB"', score: 50}
tests:
  - {name: london steps up, when: {type: login, user_id: t, ip: 81.2.69.142, timestamp: now}, expect: {decision: step_up}}
`)
}

func (ts *testServer) rulesVersion() string {
	ts.t.Helper()
	status, m := ts.do("GET", "/v1/rules", "", nil)
	if status != 200 {
		ts.t.Fatalf("GET /v1/rules: %d %v", status, m)
	}
	return m["version"].(string)
}

func eventually(t *testing.T, what string, within time.Duration, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestControlTwoInstancesShareRedis: two riskd instances share a real redis-server. A rule set put on one
// serves on the other within 2 s; so do a list and an exception; the history names the author (the API key),
// time and note; a rollback through the second reaches both; and a third instance started later serves the
// last promoted version.
func TestControlTwoInstancesShareRedis(t *testing.T) {
	r := storetest.StartRedis(t)
	a, b := startInstance(t, r.Addr), startInstance(t, r.Addr)

	status, m := a.do("PUT", "/v1/rules?note=first+shared+set", "application/yaml", ruleSet("shared-1"))
	if status != 200 || m["control_version"] != float64(1) {
		t.Fatalf("PUT /v1/rules: %d %v", status, m)
	}
	took := eventually(t, "the second instance serves shared-1", 2*time.Second, func() bool { return b.rulesVersion() == "shared-1" })
	t.Logf("a new version served on the other instance after %v", took)
	if status, m := a.do("PUT", "/v1/rules?note=second", "application/yaml", ruleSet("shared-2")); status != 200 {
		t.Fatalf("PUT /v1/rules: %d %v", status, m)
	}
	eventually(t, "the second instance serves shared-2", 2*time.Second, func() bool { return b.rulesVersion() == "shared-2" })

	status, m = b.do("GET", "/v1/control/rules/versions", "", nil)
	if status != 200 {
		t.Fatalf("history: %d %v", status, m)
	}
	vs := m["versions"].([]any)
	newest, first := vs[0].(map[string]any), vs[len(vs)-1].(map[string]any)
	if len(vs) != 2 || newest["version"] != float64(2) || newest["label"] != "shared-2" || first["author"] != "analyst" ||
		first["note"] != "first shared set" || first["action"] != "put" || first["files"] != nil {
		t.Fatalf("history: %v", vs)
	}
	if at, err := time.Parse(time.RFC3339, first["time"].(string)); err != nil || time.Since(at) > time.Minute {
		t.Fatalf("version time %v: %v", first["time"], err)
	}
	status, m = b.do("GET", "/v1/control/rules/versions/1", "", nil)
	if files, _ := m["files"].([]any); status != 200 || len(files) != 1 || !strings.Contains(files[0].(map[string]any)["data"].(string), "version: shared-1") {
		t.Fatalf("version 1: %d %v", status, m)
	}

	status, m = b.do("POST", "/v1/control/rules/rollback?note=undo+shared-2", "application/json", []byte(`{"version":1}`))
	if status != 200 || m["version"] != float64(3) || m["action"] != "rollback" || m["rollback_of"] != float64(1) ||
		m["author"] != "analyst" || m["note"] != "undo shared-2" || m["label"] != "shared-1" {
		t.Fatalf("rollback: %d %v", status, m)
	}
	eventually(t, "both serve the rolled-back version", 2*time.Second, func() bool {
		return a.rulesVersion() == "shared-1" && b.rulesVersion() == "shared-1"
	})

	if status, m := a.do("PUT", "/v1/lists/blocklist?note=ticket-42", "application/json",
		[]byte(`{"kind":"ip","entries":[{"value":"192.0.2.7"}]}`)); status != 200 || m["control_version"] != float64(1) {
		t.Fatalf("PUT list: %d %v", status, m)
	}
	if status, m := a.do("PUT", "/v1/exceptions/fp-1", "application/json",
		[]byte(`{"rules":["from_gb"],"user":"ola","expires":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`)); status != 200 {
		t.Fatalf("PUT exception: %d %v", status, m)
	}
	eventually(t, "the second instance holds the list and the exception", 2*time.Second, func() bool {
		st, m := b.do("GET", "/v1/lists/blocklist", "", nil)
		_, ex := b.do("GET", "/v1/exceptions", "", nil)
		return st == 200 && fmt.Sprint(m["entries"]) != "[]" && len(ex["exceptions"].([]any)) == 1
	})

	c := startInstance(t, r.Addr)
	if v := c.rulesVersion(); v != "shared-1" {
		t.Fatalf("a new instance serves %q, want the last promoted shared-1", v)
	}
	if st, _ := c.do("GET", "/v1/lists/blocklist", "", nil); st != 200 {
		t.Fatalf("a new instance lacks the list: %d", st)
	}
}

// TestControlInstanceThatCannotApply: an instance without the city database cannot pass the tests of a set
// that needs it. It keeps serving its version, and says so in /readyz, in /v1/control and in its metrics; the
// instance that can apply it does.
func TestControlInstanceThatCannotApply(t *testing.T) {
	r := storetest.StartRedis(t)
	a := startInstance(t, r.Addr)
	noCity := func(c *engine.Config) {
		db, err := geo.Open(geo.Config{})
		if err != nil {
			t.Fatal(err)
		}
		c.Extractor = features.NewExtractor(features.NewHasher([]byte("test")), features.NewState(0), db)
	}
	b := startInstance(t, r.Addr, noCity)
	before := b.rulesVersion()
	if status, m := a.do("PUT", "/v1/rules", "application/yaml", ruleSet("needs-city")); status != 200 {
		t.Fatalf("PUT /v1/rules: %d %v", status, m)
	}
	eventually(t, "the instance without GeoIP reports the version it cannot apply", 2*time.Second, func() bool {
		_, m := b.do("GET", "/v1/control", "", nil)
		doc := m["documents"].([]any)[0].(map[string]any)
		return doc["error"] != nil
	})
	if v := b.rulesVersion(); v != before {
		t.Fatalf("the failing instance serves %q, want %q still", v, before)
	}
	status, m := b.do("GET", "/readyz", "", nil)
	if status != 200 || !strings.Contains(fmt.Sprint(m["warnings"]), "control: rules serves version 0: version 1 cannot be applied") ||
		!strings.Contains(fmt.Sprint(m["warnings"]), "london steps up") {
		t.Fatalf("/readyz of the failing instance: %d %v", status, m)
	}
	metrics := b.metricsText()
	for _, want := range []string{`riskd_control_apply_failed{document="rules"} 1`, `riskd_control_latest_version{document="rules"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, `riskd_control_version{document="rules"`) {
		t.Errorf("the failing instance claims to serve a rules version:\n%s", metrics)
	}
	if !strings.Contains(a.metricsText(), `riskd_control_version{document="rules",version="1"} 1`) {
		t.Errorf("the instance that applied version 1 does not say so")
	}
}

// metricsText returns /metrics.
func (ts *testServer) metricsText() string {
	ts.t.Helper()
	req := newRequest(ts.t, "GET", ts.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+ts.bearer)
	_, raw := exchange(ts.t, req, nil)
	return string(raw)
}

// TestControlStoreDown: with Redis gone, a change is refused with 503 control_unavailable and nothing changes;
// the instance keeps serving, and /readyz says the store is unreachable.
func TestControlStoreDown(t *testing.T) {
	r := storetest.StartRedis(t)
	a := startInstance(t, r.Addr)
	if status, m := a.do("PUT", "/v1/rules", "application/yaml", ruleSet("before-outage")); status != 200 {
		t.Fatalf("PUT: %d %v", status, m)
	}
	r.Kill()
	status, m := a.do("PUT", "/v1/rules", "application/yaml", ruleSet("during-outage"))
	if status != 503 || errorCode(m) != "control_unavailable" {
		t.Fatalf("PUT with Redis down: %d %v", status, m)
	}
	if status, m := a.do("PUT", "/v1/lists/blocklist", "application/json", []byte(`{"kind":"ip","entries":[{"value":"192.0.2.7"}]}`)); status != 503 {
		t.Fatalf("list PUT with Redis down: %d %v", status, m)
	}
	if v := a.rulesVersion(); v != "before-outage" {
		t.Fatalf("a refused change changed the rules: %q", v)
	}
	if status, _ := a.do("GET", "/v1/lists/blocklist", "", nil); status != 404 {
		t.Fatalf("a refused change made a list: %d", status)
	}
	eventually(t, "/readyz reports the store", 3*time.Second, func() bool {
		status, m := a.do("GET", "/readyz", "", nil)
		return status == 200 && strings.Contains(fmt.Sprint(m["warnings"]), "control store unreachable")
	})
	a.bearer = secretIdP
	if status, m := a.do("POST", "/v1/decide", "application/json", []byte(`{"type":"login","user_id":"u","ip":"81.2.69.142"}`)); status != 200 || m["rules_version"] != "before-outage" {
		t.Fatalf("decide with the control store down: %d %v", status, m)
	}
}
