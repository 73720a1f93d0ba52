package server_test

import (
	"bytes"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/server"
)

const candidateRules = `version: candidate-7
thresholds: {step_up: 40, deny: 80}
rules:
  - {id: tor_deny, when: is_tor, action: deny}
`

func TestRulesValidatePutAndBacktest(t *testing.T) {
	dir := t.TempDir()
	l, err := decisionlog.Open(decisionlog.Config{Dir: dir, FlushEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var audit bytes.Buffer
	reg := metrics.NewSet()
	srv, err := server.New(server.Config{Engine: enginetest.New(t, reg, func(c *engine.Config) { c.Log = l }),
		Metrics: reg, DecisionLogDir: dir, Auditor: server.NewAuditor(&audit)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(t.Context()) })
	ts := &testServer{t: t, base: "http://" + ln.Addr().String(), srv: srv}

	// Traffic for the log: 5 Tor logins (stepped up by the built-in rules), 5 clean ones.
	t0 := base()
	for i := range 10 {
		ip := ipMilton
		if i%2 == 0 {
			ip = ipTor
		}
		ts.decide(login("bt-user", ip, "bt-device", t0.Add(time.Duration(i)*time.Hour)))
	}
	time.Sleep(100 * time.Millisecond) // the log flushes every 10 ms

	if status, m := ts.do(http.MethodPost, "/v1/rules/validate", "application/yaml", []byte("rules: [{id: x, when: is_torr, score: 1}]")); status != 422 || errorCode(m) != "invalid_rules" {
		t.Fatalf("validate bad: %d %v", status, m)
	}
	if status, m := ts.do(http.MethodPost, "/v1/rules/validate", "application/yaml", []byte(candidateRules)); status != 200 || m["valid"] != true {
		t.Fatalf("validate good: %d %v", status, m)
	}

	status, m := ts.do(http.MethodPost, "/v1/rules/backtest", "application/yaml", []byte(candidateRules))
	if status != 200 {
		t.Fatalf("backtest: %d %v", status, m)
	}
	if m["events"] != 10.0 || m["candidate_version"] != "candidate-7" {
		t.Fatalf("backtest report: %v", m)
	}
	cand := m["candidate"].(map[string]any)
	if cand["deny"] != 5.0 {
		t.Fatalf("candidate distribution %v, want 5 denies", cand)
	}

	if status, m := ts.do(http.MethodPut, "/v1/rules/shadow", "application/yaml", []byte(candidateRules)); status != 200 || m["shadow"] != "candidate-7" {
		t.Fatalf("put shadow: %d %v", status, m)
	}
	if status, m := ts.do(http.MethodGet, "/v1/rules", "", nil); status != 200 || m["shadow"] != "candidate-7" {
		t.Fatalf("rules with shadow: %d %v", status, m)
	}
	if d := ts.decide(login("bt-user-3", ipTor, "d", t0.Add(19*time.Hour))); d.Decision != "step_up" {
		t.Fatalf("a shadow set changed the answer: %+v", d)
	}
	if status, _ := ts.do(http.MethodDelete, "/v1/rules/shadow", "", nil); status != 204 || srv == nil {
		t.Fatalf("delete shadow: %d", status)
	}

	if status, m := ts.do(http.MethodPut, "/v1/rules", "application/yaml", []byte("rules: [")); status != 422 {
		t.Fatalf("put bad: %d %v", status, m)
	}
	if status, m := ts.do(http.MethodPut, "/v1/rules", "application/yaml", []byte(candidateRules)); status != 200 || m["version"] != "candidate-7" {
		t.Fatalf("put good: %d %v", status, m)
	}
	d := ts.decide(login("bt-user-2", ipTor, "d", t0.Add(20*time.Hour)))
	if d.Decision != "deny" || d.raw["rules_version"] != "candidate-7" {
		t.Fatalf("after PUT: %+v", d)
	}
	if !bytes.Contains(audit.Bytes(), []byte(`"action":"rules.put","result":"refused"`)) || !bytes.Contains(audit.Bytes(), []byte(`"action":"rules.put","result":"ok"`)) {
		t.Fatalf("audit: %s", audit.String())
	}
}
