package server_test

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/engine"
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
	ts := startWith(t, func(c *server.Config) {
		c.DecisionLogDir, c.Auditor = dir, server.NewAuditor(&audit)
	}, func(c *engine.Config) { c.Log = l })

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
	if status, _ := ts.do(http.MethodDelete, "/v1/rules/shadow", "", nil); status != 204 {
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

// testedRules is a rule set with an overlay and tests; failing swaps one expectation for one the rules do not
// meet.
func testedRules(version, expectTor string) []byte {
	return []byte(`version: ` + version + `
thresholds: {step_up: 40, deny: 80, events: {checkout: {step_up: 30}}}
rules:
  - {id: tor_exit, when: is_tor, score: 60}
  - {id: new_country, when: new_country, score: 20}
  - {id: old_rule, when: is_vpn, score: 10, expires: 2020-01-01T00:00:00Z}
tenants:
  brand-a:
    disable: [new_country]
    rules:
      - {id: brand_a_tor, when: is_tor, action: deny}
tests:
  - name: a clean first login is allowed
    when: {type: login, user_id: a, ip: 216.160.83.56, credentials_valid: true, timestamp: now}
    expect: {decision: allow, score: 0}
  - name: Tor
    when: {type: login, user_id: b, ip: 65.0.0.1, credentials_valid: true, timestamp: now}
    expect: {decision: ` + expectTor + `, reasons: [tor_exit]}
`)
}

// TestPutRulesRefusedWhenTestsFail: PUT /v1/rules and validate run the set's own tests over the serving
// GeoIP databases; a set whose tests fail is refused with 422 and the failures, the live set keeps serving,
// and requests flowing meanwhile never fail. A set whose tests pass goes live, overlay and all.
func TestPutRulesRefusedWhenTestsFail(t *testing.T) {
	var audit bytes.Buffer
	ts := startWith(t, func(c *server.Config) { c.Auditor = server.NewAuditor(&audit) })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"type":"login","user_id":"load-%d-%d","ip":"%s","credentials_valid":true}`, w, i, ipMilton)
				resp, err := http.Post(ts.base+"/v1/decide", "application/json", strings.NewReader(body))
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)

	bad := testedRules("tested-bad", "deny")
	for _, path := range []string{"/v1/rules/validate", "/v1/rules"} {
		method := http.MethodPost
		if path == "/v1/rules" {
			method = http.MethodPut
		}
		status, m := ts.do(method, path, "application/yaml", bad)
		msg, _ := m["error"].(map[string]any)["message"].(string)
		if status != 422 || errorCode(m) != "rule_tests_failed" || !strings.Contains(msg, `request:16: test "Tor": decision is step_up, want deny`) {
			t.Fatalf("%s %s with a failing test: %d %v", method, path, status, m)
		}
	}
	if _, m := ts.do(http.MethodGet, "/v1/rules", "", nil); m["version"] != "builtin-3" {
		t.Fatalf("after a refused PUT: version %v, want builtin-3 still serving", m["version"])
	}

	good := testedRules("tested-good", "step_up")
	if status, m := ts.do(http.MethodPost, "/v1/rules/validate", "application/yaml", good); status != 200 || m["tests"].(map[string]any)["passed"] != 2.0 {
		t.Fatalf("validate good: %d %v", status, m)
	}
	if status, m := ts.do(http.MethodPut, "/v1/rules", "application/yaml", good); status != 200 || m["version"] != "tested-good" || m["tests"] != 2.0 {
		t.Fatalf("put good: %d %v", status, m)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if sent.Load() < 20 || failed.Load() != 0 {
		t.Fatalf("%d requests during the PUTs, %d failed", sent.Load(), failed.Load())
	}
	if !strings.Contains(audit.String(), `"action":"rules.put","result":"refused","detail":"1 of 2 tests failed"`) {
		t.Fatalf("audit: %s", audit.String())
	}

	// The overlay is live: brand-a denies Tor and does not count a new country; explain says which rules
	// applied to the tenant.
	if d := ts.decide(map[string]any{"type": "login", "user_id": "t1", "ip": ipTor, "tenant": "brand-a", "credentials_valid": true}); d.Decision != "deny" {
		t.Fatalf("brand-a Tor: %+v", d)
	}
	status, m := ts.post("/v1/decide?explain=1", map[string]any{"type": "login", "user_id": "t2", "ip": ipTor, "tenant": "brand-a"})
	if status != 200 {
		t.Fatalf("explain: %d %v", status, m)
	}
	applies := map[string]bool{}
	for _, r := range m["rules"].([]any) {
		r := r.(map[string]any)
		applies[r["id"].(string)] = r["applies"].(bool)
	}
	if want := map[string]bool{"tor_exit": true, "new_country": false, "old_rule": false, "brand_a_tor": true}; !maps.Equal(applies, want) {
		t.Fatalf("explain applies %v, want %v", applies, want)
	}

	_, m = ts.do(http.MethodGet, "/v1/rules", "", nil)
	th := m["thresholds"].(map[string]any)
	tenant := m["tenants"].(map[string]any)["brand-a"].(map[string]any)
	rulesList := m["rules"].([]any)
	old := rulesList[2].(map[string]any)
	if th["events"].(map[string]any)["checkout"].(map[string]any)["step_up"] != 30.0 || m["tests"] != 2.0 ||
		fmt.Sprint(tenant["disable"]) != "[new_country]" || fmt.Sprint(tenant["rules"]) != "[brand_a_tor]" ||
		old["expires"] != "2020-01-01T00:00:00Z" || old["expired"] != true || rulesList[3].(map[string]any)["tenant"] != "brand-a" {
		t.Fatalf("GET /v1/rules: %v", m)
	}
}
