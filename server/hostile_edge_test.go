package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/server"
)

// rawDo sends one request exactly as written (no client normalises its target) and reads the answer:
// the status and, when there is a body, the decoded JSON (the test fails on anything else).
func rawDo(t *testing.T, addr, method, target string, headers map[string]string, body string) (int, map[string]any) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nConnection: close\r\nContent-Length: %d\r\n", method, target, len(body))
	if _, ok := headers["Host"]; !ok {
		b.WriteString("Host: 127.0.0.1\r\n")
	}
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 {
		return resp.StatusCode, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: %d, answer is not JSON: %s", method, target, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

// adminFixture is a server holding one of everything the admin routes can change: a live rule set, a shadow
// set, a list with an entry, an exception and a user with a profile.
type adminFixture struct {
	*testServer
	addr string
}

func newAdminFixture(t *testing.T) adminFixture {
	t.Helper()
	h := features.NewHasher([]byte("test"))
	reg := lists.NewRegistry(lists.Hashers{User: h.User, Device: h.Device}, nil)
	set, err := rules.Compile("live.yaml", []byte(`version: live-1
thresholds: {step_up: 40, deny: 80}
rules:
  - {id: blocked, when: 'in_list("blocklist")', action: deny}
`))
	if err != nil {
		t.Fatal(err)
	}
	ts := startWith(t, func(c *server.Config) { c.Lists, c.Pprof = reg, true },
		func(c *engine.Config) { c.Rules, c.Lists = set, reg })
	f := adminFixture{testServer: ts, addr: strings.TrimPrefix(ts.base, "http://")}
	j := "application/json"
	must := func(status int, m map[string]any, want int, what string) {
		if status != want {
			t.Fatalf("fixture: %s: %d %v", what, status, m)
		}
	}
	s, m := ts.do(http.MethodPut, "/v1/rules/shadow", "application/yaml", []byte(candidateRules))
	must(s, m, 200, "shadow")
	s, m = ts.do(http.MethodPut, "/v1/lists/blocklist", j, []byte(`{"kind":"ip","entries":[{"value":"198.51.100.0/24"}]}`))
	must(s, m, 200, "list")
	s, m = ts.do(http.MethodPut, "/v1/exceptions/INC-1", j, []byte(`{"rules":["blocked"],"user":"victim","expires":"`+at(time.Now().Add(time.Hour))+`"}`))
	must(s, m, 200, "exception")
	ts.decide(login("victim", ipMilton, "victim-laptop", base()))
	return f
}

// intact fails the test unless everything the fixture holds is still there, unchanged.
func (f adminFixture) intact(t *testing.T, after string) {
	t.Helper()
	status, m := f.do(http.MethodGet, "/v1/rules", "", nil)
	if status != 200 || m["version"] != "live-1" || m["shadow"] != "candidate-7" {
		t.Fatalf("after %s: rules: %d version %v shadow %v", after, status, m["version"], m["shadow"])
	}
	if status, m := f.do(http.MethodGet, "/v1/lists/blocklist", "", nil); status != 200 || len(m["entries"].([]any)) != 1 {
		t.Fatalf("after %s: list: %d %v", after, status, m)
	}
	status, m = f.do(http.MethodGet, "/v1/exceptions", "", nil)
	if xs, _ := m["exceptions"].([]any); status != 200 || len(xs) != 1 {
		t.Fatalf("after %s: exceptions: %d %v", after, status, m)
	}
	if status, m := f.do(http.MethodGet, "/v1/users/victim", "", nil); status != 200 || m["successful_logins"] != 1.0 {
		t.Fatalf("after %s: user: %d %v", after, status, m)
	}
}

// TestEncodedSeparatorReachesNoOtherRoute is the reproduction: an escaped "/" and ".." in a user id were
// decoded and resolved by the router (fasthttp's normalised Path), which sent the erasure of a user to the
// shadow rule set. The id is one segment: the request erases the (unknown) user of that id, nothing else.
func TestEncodedSeparatorReachesNoOtherRoute(t *testing.T) {
	f := newAdminFixture(t)
	status, m := rawDo(t, f.addr, http.MethodDelete, "/v1/users/x%2F..%2F..%2Frules%2Fshadow", nil, "")
	if status != http.StatusNoContent {
		t.Fatalf("erasure of the user %q: %d %v", "x/../../rules/shadow", status, m)
	}
	f.intact(t, "DELETE /v1/users/x%2F..%2F..%2Frules%2Fshadow")
}

// TestAdminRoutesWithSeparatorsAndDotSegments sends every admin route paths holding escaped separators
// ("/" and "\"), escaped and literal dot segments, duplicate slashes and escaped route names, each aimed at
// another resource. Each must be answered as the route its raw path names (an id holding the escaped
// characters) or refused, never reach another route, and change nothing the fixture holds.
func TestAdminRoutesWithSeparatorsAndDotSegments(t *testing.T) {
	f := newAdminFixture(t)
	yaml := map[string]string{"Content-Type": "application/yaml"}
	json := map[string]string{"Content-Type": "application/json"}
	listBody := `{"kind":"ip","entries":[{"value":"203.0.113.0/24"}]}`
	cases := []struct {
		method, target string
		headers        map[string]string
		body           string
		status         int
		code, field    string
	}{
		// users: an escaped separator is part of the id; a literal or escaped dot segment is refused.
		{"DELETE", "/v1/users/x%2F..%2F..%2Frules%2Fshadow", nil, "", 204, "", ""},
		{"DELETE", "/v1/users/x%2f..%2f..%2flists%2fblocklist", nil, "", 204, "", ""},
		{"DELETE", "/v1/users/x%2F..%2F..%2Fexceptions%2FINC-1", nil, "", 204, "", ""},
		{"DELETE", "/v1/users/x%5C..%5C..%5Crules%5Cshadow", nil, "", 204, "", ""},
		{"DELETE", "/v1/users/victim%2F..", nil, "", 204, "", ""},
		{"DELETE", "/v1/users/x%2F..%2F..%2Frules%2Fshadow?next=/../", nil, "", 204, "", ""},
		{"DELETE", "http://127.0.0.1/v1/users/x%2F..%2F..%2Frules%2Fshadow", nil, "", 204, "", ""},
		{"DELETE", "/v1/users/x/../../rules/shadow", nil, "", 400, "invalid_path", "path"},
		{"DELETE", "/v1/users/x/..%2F..%2Frules%2Fshadow", nil, "", 404, "not_found", ""},
		{"DELETE", `/v1/users/x\..\..\rules\shadow`, nil, "", 400, "invalid_path", "path"},
		{"DELETE", "/v1/users/%2E%2E", nil, "", 400, "invalid_user_id", "user_id"},
		{"DELETE", "/v1/users/%2e", nil, "", 400, "invalid_user_id", "user_id"},
		{"DELETE", "/v1/users/victim/.", nil, "", 400, "invalid_path", "path"},
		{"DELETE", "/v1/users//victim", nil, "", 400, "invalid_user_id", "user_id"},
		{"GET", "/v1/users/..%2Fvictim", nil, "", 404, "user_not_found", ""},
		{"PUT", "/v1/users/x%2F..%2F..%2Frules", yaml, candidateRules, 405, "method_not_allowed", ""},
		{"PUT", "/v1/users/victim%2Fpreferences", json, `{"mfa_preference":"always"}`, 405, "method_not_allowed", ""},
		{"PUT", "/v1/users/x/..%2F..%2Frules", yaml, candidateRules, 404, "not_found", ""},
		// rules: a sub-resource is one decoded segment.
		{"DELETE", "/v1/rules/x%2F..%2Fshadow", nil, "", 404, "not_found", ""},
		{"DELETE", "/v1/rules/./shadow", nil, "", 400, "invalid_path", "path"},
		{"DELETE", "/v1/rules/x/../shadow", nil, "", 400, "invalid_path", "path"},
		{"DELETE", "/v1/rules//shadow", nil, "", 404, "not_found", ""},
		{"GET", "/v1/rules/%73hadow", nil, "", 405, "method_not_allowed", ""}, // %73 is "s": the shadow route
		{"DELETE", "/v1/rules/shadow%2F", nil, "", 404, "not_found", ""},
		{"DELETE", "//v1/rules/shadow", nil, "", 404, "not_found", ""},
		{"PUT", "/v1/rules%2F", yaml, candidateRules, 404, "not_found", ""},
		{"PUT", "/v1/rules/", yaml, candidateRules, 404, "not_found", ""},
		{"PUT", "/v1/rules/shadow/..", yaml, candidateRules, 400, "invalid_path", "path"},
		{"PUT", "/v1/decide/../rules", yaml, candidateRules, 400, "invalid_path", "path"},
		{"PUT", "/v1/decide%2F..%2Frules", yaml, candidateRules, 404, "not_found", ""},
		// lists and exceptions: names are validated after the one decoding.
		{"DELETE", "/v1/lists/x%2F..%2F..%2Frules%2Fshadow", nil, "", 404, "no_such_list", ""},
		{"DELETE", "/v1/lists/..%2Fexceptions%2FINC-1", nil, "", 404, "no_such_list", ""},
		{"DELETE", "/v1/lists/blocklist%2F..", nil, "", 404, "no_such_list", ""},
		{"DELETE", "/v1/lists/%2E%2E", nil, "", 400, "invalid_list_name", "list"},
		{"DELETE", "/v1/lists/x/../blocklist", nil, "", 400, "invalid_path", "path"},
		{"PUT", "/v1/lists/x%2F..%2F..%2Frules", json, listBody, 400, "invalid_list_change", ""},
		{"POST", "/v1/lists/blocklist%2Fremove", json, `{"values":["198.51.100.0/24"]}`, 405, "method_not_allowed", ""},
		{"POST", "/v1/lists/x%2F..%2Fblocklist/remove", json, `{"values":["198.51.100.0/24"]}`, 404, "no_such_list", ""},
		{"GET", "/v1/lists/x%2F..%2Fblocklist", nil, "", 404, "no_such_list", ""},
		{"GET", "/v1/lists%2Fblocklist", nil, "", 404, "not_found", ""},
		{"PUT", "/v1/exceptions/..%2FINC-1", json, `{"rules":["blocked"],"user":"x","expires":"` + at(time.Now().Add(time.Hour)) + `"}`, 400, "invalid_list_change", ""},
		{"DELETE", "/v1/exceptions/..%2Flists%2Fblocklist", nil, "", 404, "no_such_exception", ""},
		{"DELETE", "/v1/exceptions/INC-1%2F..", nil, "", 404, "no_such_exception", ""},
		{"DELETE", "/v1/exceptions/%2E%2E", nil, "", 400, "invalid_exception_id", "exception_id"},
		{"DELETE", "/v1/exceptions/INC-1/..", nil, "", 400, "invalid_path", "path"},
		{"DELETE", "/v1/exceptions/x/../INC-1", nil, "", 400, "invalid_path", "path"},
		{"POST", "/v1/rules/validate%2F..%2F..%2Fusers%2Fvictim", yaml, candidateRules, 404, "not_found", ""},
		{"POST", "/v1/rules/backtest/..", yaml, candidateRules, 400, "invalid_path", "path"},
		{"PUT", "/v1/rules/validate/../shadow", yaml, candidateRules, 400, "invalid_path", "path"},
		// operations routes.
		{"GET", "/debug/pprof/../../v1/users/victim", nil, "", 400, "invalid_path", "path"},
		{"GET", "/metrics%2F..%2Fv1%2Fusers%2Fvictim", nil, "", 404, "not_found", ""},
		{"GET", "/v1/users/..", nil, "", 400, "invalid_path", "path"},
		{"GET", "/v1/users/x%zz", nil, "", 400, "invalid_path", "path"},
	}
	for _, c := range cases {
		status, m := rawDo(t, f.addr, c.method, c.target, c.headers, c.body)
		if status != c.status || errorCode(m) != c.code {
			t.Errorf("%s %s: %d %v, want %d %q", c.method, c.target, status, m, c.status, c.code)
		}
		if c.field != "" {
			if e, _ := m["error"].(map[string]any); e["field"] != c.field {
				t.Errorf("%s %s: error %v, want field %q", c.method, c.target, m, c.field)
			}
		}
		f.intact(t, c.method+" "+c.target)
	}
}

// declareBody sends only the header of a request declaring an n-byte body and reads the answer: riskd refuses
// a body over its limit from the Content-Length alone (see testServer.doDeclaringBody).
func declareBody(t *testing.T, addr, method, target string, headers map[string]string, n int) (int, map[string]any) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n", method, target, n)
	for k, v := range headers {
		fmt.Fprintf(conn, "%s: %s\r\n", k, v)
	}
	io.WriteString(conn, "\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, m
}

// TestAdminBodiesHaveTheirOwnLimit: the built-in rule file (18 KiB) goes through PUT /v1/rules, while a decide
// body over 16 KiB is still refused; the admin limit is granted only to a caller holding an admin key, and a
// caller without one is told so rather than that the body is too large.
func TestAdminBodiesHaveTheirOwnLimit(t *testing.T) {
	def, err := os.ReadFile("../rules/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(def) <= 16<<10 {
		t.Fatalf("rules/default.yaml is %d bytes: the test needs a rule file over the 16 KiB decide limit", len(def))
	}
	yamlType := map[string]string{"Content-Type": "application/yaml"}
	bigDecide := `{"type":"login","user_id":"` + strings.Repeat("u", 17<<10) + `","ip":"` + ipMilton + `"}`

	t.Run("without keys", func(t *testing.T) {
		ts := start(t)
		addr := strings.TrimPrefix(ts.base, "http://")
		if status, m := rawDo(t, addr, "PUT", "/v1/rules", yamlType, string(def)); status != 200 || m["rules"] == nil {
			t.Fatalf("PUT /v1/rules with rules/default.yaml: %d %v", status, m)
		}
		if status, m := ts.doDeclaringBody("POST", "/v1/decide", "application/json", []byte(bigDecide)); status != 413 || errorCode(m) != "body_too_large" {
			t.Fatalf("17 KiB decide body: %d %v", status, m)
		}
		if status, m := declareBody(t, addr, "PUT", "/v1/rules", yamlType, 1<<20+1); status != 413 || errorCode(m) != "body_too_large" {
			t.Fatalf("rule file over the admin limit: %d %v", status, m)
		}
	})
	t.Run("with keys", func(t *testing.T) {
		ts := startWith(t, func(c *server.Config) { c.Keys = testKeyring(t) })
		addr := strings.TrimPrefix(ts.base, "http://")
		withKey := func(secret string) map[string]string {
			return map[string]string{"Content-Type": "application/yaml", "Authorization": "Bearer " + secret}
		}
		if status, m := rawDo(t, addr, "PUT", "/v1/rules", withKey(secretAdmin), string(def)); status != 200 {
			t.Fatalf("admin key: %d %v", status, m)
		}
		if status, m := declareBody(t, addr, "PUT", "/v1/rules", withKey(secretIdP), len(def)); status != 403 || errorCode(m) != "forbidden" {
			t.Fatalf("decide key: %d %v", status, m)
		}
		if status, m := declareBody(t, addr, "PUT", "/v1/rules", yamlType, len(def)); status != 401 || errorCode(m) != "unauthenticated" {
			t.Fatalf("no key: %d %v", status, m)
		}
		h := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + secretIdP}
		if status, m := declareBody(t, addr, "POST", "/v1/decide", h, len(bigDecide)); status != 413 || errorCode(m) != "body_too_large" {
			t.Fatalf("17 KiB decide body: %d %v", status, m)
		}
	})
	t.Run("separate admin listener", func(t *testing.T) {
		ts := startWith(t, func(c *server.Config) { c.SeparateAdmin = true })
		if status, m := rawDo(t, strings.TrimPrefix(ts.adminBase, "http://"), "PUT", "/v1/rules", yamlType, string(def)); status != 200 {
			t.Fatalf("PUT /v1/rules on the admin listener: %d %v", status, m)
		}
		if status, m := ts.doDeclaringBody("POST", "/v1/decide", "application/json", []byte(bigDecide)); status != 413 {
			t.Fatalf("17 KiB decide body on the main listener: %d %v", status, m)
		}
	})
}

// dialFrom opens a connection to addr from the local address from (Linux routes all of 127/8 to lo).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// health asks for /healthz on a kept-alive connection: the status, or 0 when the connection is closed unanswered.
func health(c net.Conn) int {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestOneClientCannotHoldEveryConnection: a client opening more idle keep-alive connections than the server
// serves at once keeps only its share (the per-client bound); its further connections are closed unanswered,
// and another client is still served.
func TestOneClientCannotHoldEveryConnection(t *testing.T) {
	const concurrency, perClient = 8, 4
	ts := startWith(t, func(c *server.Config) { c.Concurrency, c.MaxConnsPerClient = concurrency, perClient })
	addr := strings.TrimPrefix(ts.base, "http://")

	var held []net.Conn
	served := 0
	for range 3 * concurrency {
		c := dialFrom(t, "127.0.0.1", addr)
		switch status := health(c); status {
		case 200:
			served++
			held = append(held, c) // kept open and idle
		case 0:
		default:
			t.Fatalf("connection over the bound answered %d, want it closed", status)
		}
	}
	if served != perClient {
		t.Fatalf("one client holds %d connections, want %d", served, perClient)
	}
	other := dialFrom(t, "127.0.0.2", addr)
	if status := health(other); status != 200 {
		t.Fatalf("another client while the first holds its bound: %d, want 200", status)
	}
	other.SetDeadline(time.Now().Add(2 * time.Second))
	io.WriteString(other, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(other), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("riskd_connections_refused_total %d", 3*concurrency-perClient); !strings.Contains(string(body), want) {
		t.Fatalf("metrics lack %q", want)
	}
	// A connection closed gives its slot back.
	held[0].Close()
	deadline := time.Now().Add(3 * time.Second)
	for health(dialFrom(t, "127.0.0.1", addr)) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("a closed connection's slot never came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const secretScraper = "rk_scraper-secret-for-tests-only"

// operationsKeyring is testKeyring's keys and a key of the metrics scope.
func operationsKeyring(t *testing.T) *server.Keyring {
	t.Helper()
	kr, err := server.ParseKeyring([]byte(`keys:
  - {name: idp, sha256: ` + server.HashSecret(secretIdP) + `, scopes: [decide]}
  - {name: analyst, sha256: ` + server.HashSecret(secretAdmin) + `, scopes: [admin]}
  - {name: prometheus, sha256: ` + server.HashSecret(secretScraper) + `, scopes: [metrics]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestOperationsDetailsNeedAKey: with keys configured, /metrics (per-rule firing counts) is served only to the
// metrics and admin scopes, and /readyz shows anyone its status but only those scopes its details (file paths,
// the state backend's errors). The metrics scope reads nothing else.
func TestOperationsDetailsNeedAKey(t *testing.T) {
	ts := startWith(t, func(c *server.Config) { c.Keys = operationsKeyring(t) })
	addr := strings.TrimPrefix(ts.base, "http://")
	get := func(path, secret string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.base+path, nil)
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ts.bearer = secretIdP
	ts.decide(login("mia", ipMilton, "d", base()))

	for _, c := range []struct {
		name, secret string
		status       int
	}{{"no key", "", 401}, {"unknown key", "rk_guess", 401}, {"decide key", secretIdP, 403}, {"metrics key", secretScraper, 200}, {"admin key", secretAdmin, 200}} {
		status, body := get("/metrics", c.secret)
		if status != c.status {
			t.Errorf("/metrics, %s: %d, want %d", c.name, status, c.status)
		}
		if fired := strings.Contains(body, "riskd_rule_fired_total"); fired != (c.status == 200) {
			t.Errorf("/metrics, %s: per-rule counts shown: %v", c.name, fired)
		}
	}
	for _, c := range []struct {
		name, secret string
		details      bool
	}{{"no key", "", false}, {"unknown key", "rk_guess", false}, {"decide key", secretIdP, false}, {"metrics key", secretScraper, true}, {"admin key", secretAdmin, true}} {
		status, body := get("/readyz", c.secret)
		if status != 200 {
			t.Errorf("/readyz, %s: %d", c.name, status)
		}
		if c.details {
			if !strings.Contains(body, `"rules_source"`) || !strings.Contains(body, `"geo"`) {
				t.Errorf("/readyz, %s: no details: %s", c.name, body)
			}
		} else if body != `{"status":"ready"}` {
			t.Errorf("/readyz, %s: %s, want the status alone", c.name, body)
		}
	}
	// The metrics scope reads nothing else.
	hdr := map[string]string{"Authorization": "Bearer " + secretScraper}
	for _, path := range []string{"/v1/rules", "/v1/users/mia"} {
		if status, m := rawDo(t, addr, "GET", path, hdr, ""); status != 403 || errorCode(m) != "forbidden" {
			t.Errorf("metrics key on %s: %d %v", path, status, m)
		}
	}
	ts.srv.Drain()
	if status, body := get("/readyz", ""); status != 503 || body != `{"status":"draining"}` {
		t.Fatalf("/readyz while draining, no key: %d %s", status, body)
	}
}

// TestAdminListenerServesTLS: the admin listener serves HTTPS, so admin keys and user exports do not cross the
// network in clear; a plain-HTTP request to it is not answered as one.
func TestAdminListenerServesTLS(t *testing.T) {
	addr, client := startTLS(t, server.Config{SeparateAdmin: true, Keys: testKeyring(t)}, (*server.Server).ServeAdminTLS)
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/v1/rules", nil)
	req.Header.Set("Authorization", "Bearer "+secretAdmin)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("admin over HTTPS: status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	if resp, err := http.Get("http://" + addr + "/v1/rules"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("the TLS admin listener answered plain HTTP")
		}
	}
}

// TestLoopbackModeRefusesOtherHosts: without keys riskd trusts whoever reaches its loopback listener, and a web
// page reaches it through the browser by pointing a name of its own at 127.0.0.1 (DNS rebinding). Such a
// request carries that name as Host: it is refused, before it decides, erases or reads anything.
func TestLoopbackModeRefusesOtherHosts(t *testing.T) {
	ts := start(t)
	addr := strings.TrimPrefix(ts.base, "http://")
	ts.decide(login("nia", ipMilton, "d", base()))
	_, port, _ := net.SplitHostPort(addr)
	decide := `{"type":"login","user_id":"nia","ip":"` + ipMilton + `"}`
	for _, c := range []struct {
		host   string
		status int // 400: fasthttp cannot read the Host at all
	}{{"rebind.example", 421}, {"rebind.example:" + port, 421}, {"127.0.0.1.rebind.example", 421}, {"localhost.rebind.example", 421},
		{"0x7f.0.0.1", 421}, {"127.0.0.256", 421}, {"127.1", 421}, {"[::2]", 421}, {"10.0.0.1:" + port, 421},
		{"[::1].rebind.example", 400}, {"localhost:http", 400}} {
		h := map[string]string{"Host": c.host, "Content-Type": "application/json"}
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/v1/decide", decide}, {"DELETE", "/v1/users/nia", ""}, {"GET", "/v1/users/nia", ""}, {"GET", "/readyz", ""},
		} {
			if status, m := rawDo(t, addr, r.method, r.path, h, r.body); status != c.status || m["error"] == nil {
				t.Errorf("Host %q, %s %s: %d %v, want %d", c.host, r.method, r.path, status, m, c.status)
			}
		}
	}
	if status, m := rawDo(t, addr, "DELETE", "http://rebind.example/v1/users/nia", nil, ""); status != 421 {
		t.Errorf("absolute target naming another host: %d %v", status, m)
	}
	if status, m := ts.do(http.MethodGet, "/v1/users/nia", "", nil); status != 200 {
		t.Fatalf("the refused requests changed state: export %d %v", status, m)
	}
	for _, host := range []string{"127.0.0.1", "127.0.0.1:" + port, "127.3.2.1:" + port, "localhost:" + port, "LocalHost", "[::1]:" + port, "[::1]"} {
		h := map[string]string{"Host": host, "Content-Type": "application/json"}
		if status, m := rawDo(t, addr, "POST", "/v1/decide", h, decide); status != 200 {
			t.Errorf("Host %q: %d %v, want 200", host, status, m)
		}
	}

	// With keys, a caller must hold one, which a web page does not: the Host is not checked.
	tk := startWith(t, func(c *server.Config) { c.Keys = testKeyring(t) })
	h := map[string]string{"Host": "riskd.internal.example", "Content-Type": "application/json", "Authorization": "Bearer " + secretIdP}
	if status, m := rawDo(t, strings.TrimPrefix(tk.base, "http://"), "POST", "/v1/decide", h, decide); status != 200 {
		t.Fatalf("with keys, another Host: %d %v", status, m)
	}
}

// TestBodiesRequireTheirContentType: every JSON POST or PUT requires Content-Type: application/json, and a rule
// file a YAML (or JSON) type; a missing one is refused with 415, as a browser sends a form or text/plain
// cross-site without asking first, never these. Nothing refused changes state.
func TestBodiesRequireTheirContentType(t *testing.T) {
	f := newAdminFixture(t)
	decide := `{"type":"login","user_id":"victim","ip":"` + ipMilton + `"}`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp"} {
		h := map[string]string{}
		if ct != "" {
			h["Content-Type"] = ct
		}
		for _, r := range []struct{ method, path, body string }{
			{"POST", "/v1/decide", decide},
			{"POST", "/v1/events", `{"type":"login_failed","user_id":"victim"}`},
			{"PUT", "/v1/users/victim/preferences", `{"mfa_preference":"always"}`},
			{"PUT", "/v1/lists/blocklist", `{"kind":"ip","entries":[{"value":"203.0.113.0/24"}]}`},
			{"POST", "/v1/lists/blocklist/remove", `{"values":["198.51.100.0/24"]}`},
			{"PUT", "/v1/exceptions/INC-1", `{"rules":["blocked"],"user":"x","expires":"` + at(time.Now().Add(time.Hour)) + `"}`},
			{"PUT", "/v1/rules", candidateRules},
			{"PUT", "/v1/rules/shadow", "version: other\nthresholds: {step_up: 40, deny: 80}\nrules: []\n"},
			{"POST", "/v1/rules/validate", candidateRules},
			{"POST", "/v1/rules/backtest", candidateRules},
		} {
			if status, m := rawDo(t, f.addr, r.method, r.path, h, r.body); status != 415 || errorCode(m) != "unsupported_media_type" {
				t.Errorf("Content-Type %q, %s %s: %d %v, want 415", ct, r.method, r.path, status, m)
			}
		}
	}
	f.intact(t, "requests without their content type")
	if status, m := f.do(http.MethodGet, "/v1/users/victim", "", nil); status != 200 || m["mfa_preference"] == "always" {
		t.Fatalf("preferences changed: %d %v", status, m)
	}
	for _, ct := range []string{"application/yaml", "application/x-yaml", "text/yaml", "application/json", "Application/YAML; charset=utf-8"} {
		if status, m := rawDo(t, f.addr, "POST", "/v1/rules/validate", map[string]string{"Content-Type": ct}, `{"version":"j","thresholds":{"step_up":40,"deny":80},"rules":[]}`); status != 200 {
			t.Errorf("validate with %q: %d %v", ct, status, m)
		}
	}
	if status, m := rawDo(t, f.addr, "POST", "/v1/decide", map[string]string{"Content-Type": "application/json; charset=utf-8"}, decide); status != 200 {
		t.Fatalf("decide with a charset: %d %v", status, m)
	}
}
