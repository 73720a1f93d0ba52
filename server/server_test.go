package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/internal/contracttest"
	"github.com/riskd/riskd/server"
)

// Addresses from MaxMind's test databases (see ../shared/README.md).
const (
	ipMilton    = "216.160.83.56" // Milton, US
	ipChangchun = "175.16.199.1"  // Changchun, CN
	ipBoxford   = "2.125.160.216" // Boxford, GB
	ipTor       = "65.0.0.1"      // Tor exit
	ipAllFlags  = "81.2.69.1"     // every anonymous flag
	ipClean     = "89.160.20.112" // Linköping, SE
)

// testServer is riskd serving the built-in rules and the MaxMind test databases on a loopback port.
type testServer struct {
	t         *testing.T
	base      string
	adminBase string
	srv       *server.Server
	bearer    string       // sent as Authorization: Bearer when set
	client    *http.Client // checks every exchange against api/openapi.yaml (contracttest)
}

func start(t *testing.T) *testServer { return startWith(t, nil) }

// startWith starts a server whose config configure may change, on a loopback port; with
// cfg.SeparateAdmin the admin listener's base URL is in adminBase.
func startWith(t *testing.T, configure func(*server.Config), engineOpts ...func(*engine.Config)) *testServer {
	t.Helper()
	reg := metrics.NewSet()
	cfg := server.Config{Engine: enginetest.New(t, reg, engineOpts...), Metrics: reg}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, srv: srv, client: &http.Client{Transport: contracttest.Transport(t, nil)}}
	done := make(chan error, 2)
	ts.base = "http://" + serveOn(t, srv.Serve, done)
	servers := 1
	if cfg.SeparateAdmin {
		ts.adminBase = "http://" + serveOn(t, srv.ServeAdmin, done)
		servers++
	}
	t.Cleanup(func() {
		srv.Shutdown(t.Context())
		for range servers {
			<-done
		}
	})
	return ts
}

func serveOn(t *testing.T, serve func(net.Listener) error, done chan<- error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- serve(ln) }()
	return ln.Addr().String()
}

// do sends a request and decodes a JSON answer (nil for an empty body).
func (ts *testServer) do(method, path, contentType string, body []byte) (int, map[string]any) {
	ts.t.Helper()
	url := path
	if !strings.HasPrefix(path, "http") {
		url = ts.base + path
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if ts.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+ts.bearer)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	if len(raw) == 0 {
		return resp.StatusCode, nil
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		ts.t.Fatalf("%s %s: content type %q, body %s", method, path, ct, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		ts.t.Fatalf("%s %s: answer is not JSON: %v: %s", method, path, err, raw)
	}
	return resp.StatusCode, m
}

// doDeclaringBody sends only the headers of a request, declaring body's length, and reads the answer. riskd
// refuses a body over its limit from the Content-Length alone and closes the connection, so a client still
// writing the body may see a reset before it reads the 413; this shows the 413 deterministically.
func (ts *testServer) doDeclaringBody(method, path, contentType string, body []byte) (int, map[string]any) {
	ts.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.base, "http://"))
	if err != nil {
		ts.t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: riskd\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", method, path, contentType, len(body))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		ts.t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, m
}

func (ts *testServer) post(path string, body any) (int, map[string]any) {
	ts.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return ts.do(http.MethodPost, path, "application/json", b)
}

// decide asks for a decision and fails the test unless it is answered with 200.
func (ts *testServer) decide(ev map[string]any) decision {
	ts.t.Helper()
	status, m := ts.post("/v1/decide", ev)
	if status != http.StatusOK {
		ts.t.Fatalf("decide %v: status %d: %v", ev, status, m)
	}
	return toDecision(ts.t, m)
}

func (ts *testServer) event(ev map[string]any) {
	ts.t.Helper()
	if status, m := ts.post("/v1/events", ev); status != http.StatusOK {
		ts.t.Fatalf("event %v: status %d: %v", ev, status, m)
	}
}

type decision struct {
	Decision string
	Score    float64
	Codes    []string
	raw      map[string]any
}

func toDecision(t *testing.T, m map[string]any) decision {
	t.Helper()
	d := decision{raw: m}
	d.Decision, _ = m["decision"].(string)
	d.Score, _ = m["score"].(float64)
	reasons, ok := m["reasons"].([]any)
	if !ok {
		t.Fatalf("no reasons list in %v", m)
	}
	for _, r := range reasons {
		d.Codes = append(d.Codes, r.(map[string]any)["code"].(string))
	}
	for _, k := range []string{"evaluation_id", "rules_version", "took_us"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("answer lacks %q: %v", k, m)
		}
	}
	return d
}

func (d decision) has(code string) bool {
	for _, c := range d.Codes {
		if c == code {
			return true
		}
	}
	return false
}

// at formats a time for the API.
func at(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func login(user, ip, device string, when time.Time) map[string]any {
	return map[string]any{"type": "login", "user_id": user, "ip": ip, "device_id": device,
		"credentials_valid": true, "timestamp": at(when)}
}

// base is a start time far enough in the past that the tests' sequences stay before now.
func base() time.Time { return time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Hour) }

func TestFamiliarLoginIsAllowed(t *testing.T) {
	ts := start(t)
	t0 := base()
	first := ts.decide(login("ana", ipMilton, "ana-laptop", t0))
	if first.Decision != "allow" {
		t.Fatalf("first login from a clean address: %+v", first)
	}
	again := ts.decide(login("ana", ipMilton, "ana-laptop", t0.Add(24*time.Hour)))
	if again.Decision != "allow" || again.Score >= 40 {
		t.Fatalf("same user, device and place again: %+v", again)
	}
}

func TestNewDeviceInNewCountrySteppedUp(t *testing.T) {
	ts := start(t)
	t0 := base()
	ts.decide(login("ben", ipMilton, "ben-laptop", t0))
	d := ts.decide(login("ben", ipChangchun, "unknown-phone", t0.Add(48*time.Hour)))
	if d.Decision != "step_up" {
		t.Fatalf("new device in another country: %+v", d)
	}
	if !d.has("new_device") || !d.has("new_country") {
		t.Fatalf("reasons should name the new device and the new country: %v", d.Codes)
	}
}

func TestImpossibleTravelNotAllowed(t *testing.T) {
	ts := start(t)
	t0 := base()
	if d := ts.decide(login("cat", ipBoxford, "cat-phone", t0)); d.Decision != "allow" {
		t.Fatalf("first login: %+v", d)
	}
	d := ts.decide(login("cat", ipMilton, "cat-phone", t0.Add(20*time.Minute)))
	if d.Decision == "allow" || !d.has("impossible_travel") {
		t.Fatalf("Boxford then Milton 20 minutes later: %+v", d)
	}
	// The reason shows the figures behind it (a message template over the features).
	msg := d.raw["reasons"].([]any)[0].(map[string]any)["message"].(string)
	if !strings.Contains(msg, "km from the last successful login, 0.33 h ago") || !strings.Contains(msg, "km/h") {
		t.Fatalf("impossible travel message: %q", msg)
	}
}

func TestAnonymousNetworksNotAllowed(t *testing.T) {
	ts := start(t)
	t0 := base()
	for _, ip := range []string{ipTor, ipAllFlags} {
		user := "dan-" + ip
		ts.decide(login(user, ipClean, "dan-laptop", t0))
		d := ts.decide(login(user, ip, "dan-laptop", t0.Add(24*time.Hour)))
		if d.Decision == "allow" {
			t.Errorf("login from %s: %+v", ip, d)
		}
	}
}

func TestCredentialStuffingFromOneIPDenied(t *testing.T) {
	ts := start(t)
	t0 := base()
	const attacker = "198.51.100.7"
	for i := range 50 {
		ev := login(fmt.Sprintf("victim-%d", i), attacker, "", t0.Add(time.Duration(i)*time.Second))
		ev["credentials_valid"] = false
		ts.decide(ev)
	}
	d := ts.decide(login("victim-50", attacker, "", t0.Add(55*time.Second)))
	if d.Decision != "deny" || !d.has("ip_credential_stuffing") {
		t.Fatalf("after 50 failed logins for 50 users from one IP: %+v", d)
	}
}

func TestRepeatedFailuresForOneUser(t *testing.T) {
	ts := start(t)
	t0 := base()
	ts.decide(login("eve", ipMilton, "eve-laptop", t0))
	t1 := t0.Add(24 * time.Hour)
	for i := range 10 {
		// Failures reported both ways clients do: on the decision and as an outcome event.
		when := t1.Add(time.Duration(i) * 30 * time.Second)
		if i%2 == 0 {
			ev := login("eve", ipMilton, "eve-laptop", when)
			ev["credentials_valid"] = false
			ts.decide(ev)
		} else {
			ts.event(map[string]any{"type": "login_failed", "user_id": "eve", "ip": ipMilton, "device_id": "eve-laptop", "timestamp": at(when)})
		}
	}
	d := ts.decide(login("eve", ipMilton, "eve-laptop", t1.Add(5*time.Minute)))
	if d.Decision == "allow" {
		t.Fatalf("after 10 failed logins in 5 minutes: %+v", d)
	}
}

func TestPassedMFATrustsDevice(t *testing.T) {
	ts := start(t)
	t0 := base()
	ts.decide(login("fay", ipMilton, "fay-laptop", t0))
	t1 := t0.Add(72 * time.Hour)
	d := ts.decide(login("fay", ipChangchun, "fay-new-phone", t1))
	if d.Decision != "step_up" {
		t.Fatalf("new device abroad: %+v", d)
	}
	ts.event(map[string]any{"type": "mfa_passed", "user_id": "fay", "ip": ipChangchun, "device_id": "fay-new-phone",
		"evaluation_id": d.raw["evaluation_id"], "timestamp": at(t1.Add(time.Minute))})
	d = ts.decide(login("fay", ipChangchun, "fay-new-phone", t1.Add(24*time.Hour)))
	if d.Decision != "allow" || !d.has("trusted_device") {
		t.Fatalf("trusted device, same place, after MFA: %+v", d)
	}
}

func TestMFAPreference(t *testing.T) {
	ts := start(t)
	t0 := base()
	ts.decide(login("gus", ipMilton, "gus-laptop", t0))
	ev := login("gus", ipMilton, "gus-laptop", t0.Add(time.Hour))
	ev["mfa_preference"] = "always"
	if d := ts.decide(ev); d.Decision != "step_up" || !d.has(engine.CodeMFAAlways) {
		t.Fatalf("always, familiar login: %+v", d)
	}
	ev = login("gus", ipMilton, "gus-laptop", t0.Add(2*time.Hour))
	ev["mfa_preference"] = "sensitive"
	if d := ts.decide(ev); d.Decision != "allow" {
		t.Fatalf("sensitive, familiar login: %+v", d)
	}
	ev = login("gus", ipMilton, "gus-laptop", t0.Add(3*time.Hour))
	ev["type"], ev["amount"], ev["currency"], ev["mfa_preference"] = "checkout", 20.5, "EUR", "sensitive"
	if d := ts.decide(ev); d.Decision != "step_up" || !d.has(engine.CodeMFASensitive) {
		t.Fatalf("sensitive, checkout: %+v", d)
	}

	// A stored preference applies when the request does not say.
	if status, m := ts.do(http.MethodPut, "/v1/users/gus/preferences", "application/json", []byte(`{"mfa_preference":"always"}`)); status != http.StatusOK {
		t.Fatalf("put preference: %d %v", status, m)
	}
	if d := ts.decide(login("gus", ipMilton, "gus-laptop", t0.Add(4*time.Hour))); d.Decision != "step_up" {
		t.Fatalf("stored preference always: %+v", d)
	}
}

func TestBadInputRejectedWithoutStateChange(t *testing.T) {
	ts := start(t)
	const ip = "203.0.113.9"
	valid := `{"type":"login","user_id":"hal","ip":"` + ip + `","credentials_valid":false}`
	cases := []struct {
		name        string
		method      string
		contentType string
		body        string
		status      int
		code, field string
	}{
		{"invalid JSON", "POST", "application/json", `{"type":"login",`, 400, "invalid_json", ""},
		{"not an object", "POST", "application/json", `[1,2]`, 400, "invalid_json", ""},
		{"missing ip", "POST", "application/json", `{"type":"login","user_id":"hal"}`, 400, "missing_field", "ip"},
		{"unparsable ip", "POST", "application/json", `{"type":"login","user_id":"hal","ip":"300.1.2.3"}`, 400, "invalid_ip", "ip"},
		{"unknown type", "POST", "application/json", `{"type":"logon","user_id":"hal","ip":"` + ip + `"}`, 400, "invalid_type", "type"},
		{"missing user", "POST", "application/json", `{"type":"login","ip":"` + ip + `"}`, 400, "missing_field", "user_id"},
		{"ip of wrong type", "POST", "application/json", `{"type":"login","user_id":"hal","ip":12}`, 400, "invalid_type", "ip"},
		{"unknown field", "POST", "application/json", `{"type":"login","user_id":"hal","ip":"` + ip + `","userid":"x"}`, 400, "unknown_field", "userid"},
		{"bad timestamp", "POST", "application/json", `{"type":"login","user_id":"hal","ip":"` + ip + `","timestamp":"yesterday"}`, 400, "invalid_timestamp", "timestamp"},
		{"future timestamp", "POST", "application/json", `{"type":"login","user_id":"hal","ip":"` + ip + `","timestamp":"` + at(time.Now().Add(time.Hour)) + `"}`, 400, "invalid_timestamp", "timestamp"},
		{"negative amount", "POST", "application/json", `{"type":"checkout","user_id":"hal","ip":"` + ip + `","amount":-5,"currency":"EUR"}`, 400, "invalid_amount", "amount"},
		{"user id too long", "POST", "application/json", `{"type":"login","user_id":"` + strings.Repeat("u", 300) + `","ip":"` + ip + `"}`, 400, "too_long", "user_id"},
		{"1 MiB body", "POST", "application/json", `{"type":"login","user_id":"` + strings.Repeat("u", 1<<20) + `","ip":"` + ip + `"}`, 413, "body_too_large", ""},
		{"wrong method", "GET", "", "", 405, "method_not_allowed", ""},
		{"wrong content type", "POST", "text/plain", valid, 415, "unsupported_media_type", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			do := ts.do
			if c.status == 413 {
				do = ts.doDeclaringBody // see doDeclaringBody: a real client may see a reset mid-body
			}
			status, m := do(c.method, "/v1/decide", c.contentType, []byte(c.body))
			if status != c.status {
				t.Fatalf("status %d, want %d: %v", status, c.status, m)
			}
			e, ok := m["error"].(map[string]any)
			if !ok {
				t.Fatalf("no error object: %v", m)
			}
			if e["code"] != c.code || (c.field != "" && e["field"] != c.field) || e["message"] == "" {
				t.Fatalf("error %v, want code %q field %q", e, c.code, c.field)
			}
		})
	}
	// Nothing the rejected requests carried reached the state: no profile for hal, no count for the IP.
	if status, _ := ts.do(http.MethodGet, "/v1/users/hal", "", nil); status != http.StatusNotFound {
		t.Fatalf("export after rejected requests: status %d, want 404", status)
	}
	status, m := ts.post("/v1/decide?explain=1", map[string]any{"type": "login", "user_id": "ivy", "ip": ip})
	if status != http.StatusOK {
		t.Fatalf("explain: %d %v", status, m)
	}
	f := m["features"].(map[string]any)
	if f["ip_attempts_24h"] != 0.0 || f["ip_failures_24h"] != 0.0 {
		t.Fatalf("rejected requests were counted: ip_attempts_24h=%v ip_failures_24h=%v", f["ip_attempts_24h"], f["ip_failures_24h"])
	}
}

func TestErrorsForUnknownPathsAndEvents(t *testing.T) {
	ts := start(t)
	if status, m := ts.do(http.MethodGet, "/nope", "", nil); status != 404 || m["error"] == nil {
		t.Fatalf("unknown path: %d %v", status, m)
	}
	status, m := ts.post("/v1/events", map[string]any{"type": "login_exploded", "user_id": "x"})
	if status != 400 || m["error"].(map[string]any)["field"] != "type" {
		t.Fatalf("unknown outcome type: %d %v", status, m)
	}
	status, m = ts.post("/v1/events", map[string]any{"type": "login_failed"})
	if status != 400 || m["error"].(map[string]any)["field"] != "user_id" {
		t.Fatalf("outcome without user: %d %v", status, m)
	}
}

func TestExportAndErase(t *testing.T) {
	ts := start(t)
	t0 := base()
	ts.decide(login("ida/../x", ipMilton, "ida-laptop", t0))
	path := "/v1/users/ida%2F..%2Fx"
	status, m := ts.do(http.MethodGet, path, "", nil)
	if status != 200 || m["user_id"] != "ida/../x" {
		t.Fatalf("export: %d %v", status, m)
	}
	if devs := m["devices"].([]any); len(devs) != 1 {
		t.Fatalf("export devices: %v", m["devices"])
	}
	if cs := m["countries"].([]any); len(cs) != 1 || cs[0].(map[string]any)["country"] != "US" {
		t.Fatalf("export countries: %v", m["countries"])
	}
	for range 2 { // erasure is idempotent
		if status, _ := ts.do(http.MethodDelete, path, "", nil); status != http.StatusNoContent {
			t.Fatalf("erase: %d", status)
		}
	}
	if status, _ := ts.do(http.MethodGet, path, "", nil); status != http.StatusNotFound {
		t.Fatalf("export after erase: %d", status)
	}
	// The user is new again: a login from a never-seen device raises no new-device signal.
	d := ts.decide(login("ida/../x", ipChangchun, "other", t0.Add(time.Hour)))
	if d.has("new_device") || d.has("new_country") {
		t.Fatalf("after erasure the user should be new: %+v", d)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	ts := start(t)
	if status, m := ts.do(http.MethodGet, "/healthz", "", nil); status != 200 || m["status"] != "ok" {
		t.Fatalf("healthz: %d %v", status, m)
	}
	status, m := ts.do(http.MethodGet, "/readyz", "", nil)
	if status != 200 || m["status"] != "ready" || len(m["geo"].([]any)) != 3 {
		t.Fatalf("readyz: %d %v", status, m)
	}
	ts.decide(login("jo", ipMilton, "jo-laptop", base()))
	resp, err := http.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`riskd_decisions_total{decision="allow",event="login",tenant="default"} 1`, `riskd_decision_duration_seconds_count 1`, `riskd_http_requests_total{code="2xx"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	ts.srv.Drain()
	if status, m := ts.do(http.MethodGet, "/readyz", "", nil); status != 503 || m["status"] != "draining" {
		t.Fatalf("readyz while draining: %d %v", status, m)
	}
}
