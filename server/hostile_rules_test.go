package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/server"
)

// hostileWhens are rule expressions aimed at the process's time and memory. Each used to compile; the first
// killed the process with Go's unrecoverable out-of-memory error on its first evaluation.
var hostileWhens = []struct{ kind, when string }{
	{"repeat of repeat", `len(repeat(repeat("a", 999999), 999999)) > 0`},
	{"repeat by a field", `repeat(country, asn) != ""`},
	{"huge range", `len(1..1000000000) > 0`},
	{"predicate over a huge range", `any(1..1000000000, # == asn)`},
	{"range bound by a field", `len(1..asn) > 0`},
	{"pattern from a field", `country matches city`},
	{"pattern built from fields", `ua_browser matches (ua_os + ".*")`},
	{"nested predicates", `all(1..1000, any(1..1000, # == hour))`},
	{"nested maps", `len(map(1..5000, map(1..5000, #))) > 0`},
	{"deep predicates", `any(1..2, any(1..2, any(1..2, any(1..2, any(1..2, any(1..2, # > hour))))))`},
	{"deep nesting", strings.Repeat("!", 600) + "is_tor"},
	{"many nodes", "asn == 1" + strings.Repeat(" || asn == 1", 600)},
	{"giant string constant", `city == "` + strings.Repeat("x", 64<<10) + `"`},
	{"doubling lets", `let a = city + city; let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; len(f + f) > 0`},
	{"growing accumulator", `reduce(1..64, #acc + #acc, "ab") != ""`},
	{"replace chain", `len(replace(replace(replace(city, "", "0123456789"), "", "0123456789"), "", "0123456789")) > 0`},
	{"join of pieces", `len(join(split(city, ""), city)) > 0`},
	{"parse a field", `fromJSON(city) != nil`},
}

// hostileSet is a rule file whose one rule, "hostile", has the expression when.
func hostileSet(when string) []byte {
	return []byte("thresholds: {step_up: 40, deny: 80}\nrules:\n  - id: hostile\n    score: 50\n    when: '" +
		strings.ReplaceAll(when, "'", "''") + "'\n")
}

// ruleEndpoints are every way a rule set enters a running riskd.
var ruleEndpoints = []struct{ method, path string }{
	{http.MethodPut, "/v1/rules"},
	{http.MethodPost, "/v1/rules/validate"},
	{http.MethodPut, "/v1/rules/shadow"},
	{http.MethodPost, "/v1/rules/backtest"},
}

func errorMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

// startWithLog starts a server with a decision log, so that a backtest has traffic to replay, and a body limit
// large enough for the giant expressions to reach the compiler.
func startWithLog(t *testing.T) *testServer {
	dir := t.TempDir()
	l, err := decisionlog.Open(decisionlog.Config{Dir: dir, FlushEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return startWith(t, func(c *server.Config) { c.DecisionLogDir, c.MaxBodyBytes = dir, 1<<20 },
		func(c *engine.Config) { c.Log = l })
}

// TestHostileRuleRefusedOnEveryPath: the reproduction through PUT /v1/rules and /v1/rules/validate (which
// used to run the set's tests in-process), PUT /v1/rules/shadow (which ran no test, so the next decision
// died) and /v1/rules/backtest (which died on the first replayed event): each is now a 422 naming the rule,
// the live and shadow sets are unchanged, and decisions go on.
func TestHostileRuleRefusedOnEveryPath(t *testing.T) {
	ts := startWithLog(t)
	t0 := base()
	for i := range 5 {
		ts.decide(login("hr-user", ipMilton, "hr-device", t0.Add(time.Duration(i)*time.Hour)))
	}
	time.Sleep(100 * time.Millisecond) // the log flushes every 10 ms
	_, before := ts.do(http.MethodGet, "/v1/rules", "", nil)

	body := []byte(`thresholds: {step_up: 40, deny: 80}
rules:
  - {id: boom, when: 'len(repeat(repeat("a", 999999), 999999)) > 0', score: 10}
tests:
  - name: any login
    when: {type: login, user_id: u1, ip: 216.160.83.56, timestamp: now}
    expect: {decision: allow}
`)
	for _, ep := range ruleEndpoints {
		status, m := ts.do(ep.method, ep.path, "application/yaml", body)
		if msg := errorMessage(m); status != 422 || errorCode(m) != "invalid_rules" || !strings.Contains(msg, `request:3: rule "boom": when: repeat() is not allowed in rules`) {
			t.Errorf("%s %s: %d %v", ep.method, ep.path, status, m)
		}
		ts.decide(login("hr-user", ipMilton, "hr-device", t0.Add(6*time.Hour)))
	}
	_, after := ts.do(http.MethodGet, "/v1/rules", "", nil)
	if after["version"] != before["version"] || after["shadow"] != nil {
		t.Fatalf("the live sets changed: version %v -> %v, shadow %v", before["version"], after["version"], after["shadow"])
	}
}

// TestServerSurvivesHostileRuleSubmissions sends 100 hostile rule sets in a row, through every endpoint,
// while decisions keep flowing: every submission is refused with a 422 naming the rule, and every decision
// is answered 200.
func TestServerSurvivesHostileRuleSubmissions(t *testing.T) {
	ts := startWithLog(t)
	ts.decide(login("warm", ipMilton, "warm-device", base()))
	time.Sleep(50 * time.Millisecond)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var decided int
	var failures []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 10 * time.Second}
		for i := 0; i < 100000; i++ { // bounded; stopped when the submissions are done
			select {
			case <-stop:
				return
			default:
			}
			ev := fmt.Sprintf(`{"type":"login","user_id":"u%d","ip":%q,"device_id":"d%d","credentials_valid":true}`, i%50, ipMilton, i%50)
			resp, err := client.Post(ts.base+"/v1/decide", "application/json", strings.NewReader(ev))
			if err != nil {
				failures = append(failures, err.Error())
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failures = append(failures, fmt.Sprintf("decision %d: status %d", i, resp.StatusCode))
			}
			decided++
		}
	}()

	for i := range 100 {
		h := hostileWhens[i%len(hostileWhens)]
		ep := ruleEndpoints[i%len(ruleEndpoints)]
		status, m := ts.do(ep.method, ep.path, "application/yaml", hostileSet(h.when))
		if msg := errorMessage(m); status != 422 || errorCode(m) != "invalid_rules" || !strings.Contains(msg, `request:5: rule "hostile": when: `) {
			t.Errorf("submission %d (%s) to %s %s: %d %.300v", i, h.kind, ep.method, ep.path, status, m)
		}
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d decisions failed: %v", len(failures), decided+len(failures), failures[:min(len(failures), 5)])
	}
	if decided < 20 {
		t.Fatalf("only %d decisions while 100 rule sets were refused", decided)
	}
	t.Logf("%d decisions answered 200 while 100 hostile rule sets were refused", decided)
}

// TestRuleWorkRunsOneAtATime: while one job holds the rule gate, a submission waits for it and is then
// answered 503 rules_busy with Retry-After; decisions, and requests refused before any rule work, never wait.
func TestRuleWorkRunsOneAtATime(t *testing.T) {
	ts := start(t)
	held, release := make(chan struct{}), make(chan struct{})
	go ts.srv.RuleGate().Do(time.Second, func() error { close(held); <-release; return nil })
	<-held
	defer close(release)

	type answer struct {
		status     int
		code       string
		retryAfter string
		took       time.Duration
	}
	busy := make(chan answer, 1)
	go func() {
		start := time.Now()
		resp, err := http.Post(ts.base+"/v1/rules/validate", "application/yaml", strings.NewReader(candidateRules))
		if err != nil {
			busy <- answer{code: err.Error()}
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		busy <- answer{resp.StatusCode, string(raw), resp.Header.Get("Retry-After"), time.Since(start)}
	}()
	start := time.Now()
	for i := range 20 {
		ts.decide(login("gate-user", ipMilton, "gate-device", base().Add(time.Duration(i)*time.Minute)))
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("20 decisions took %v while the rule gate was held", took)
	}
	// A request refused before any rule work is answered at once.
	start = time.Now()
	if status, m := ts.do(http.MethodGet, "/v1/rules/validate", "", nil); status != 405 || time.Since(start) > 2*time.Second {
		t.Fatalf("GET validate while the gate was held: %d %v after %v", status, m, time.Since(start))
	}
	a := <-busy
	if a.status != 503 || !strings.Contains(a.code, `"rules_busy"`) || a.retryAfter == "" || a.took < 4*time.Second {
		t.Fatalf("validate while the gate was held: %+v", a)
	}
}
