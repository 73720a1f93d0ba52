package server_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/server"
)

// send sends a request through the test server's contract-checking client and returns the status, the headers
// and the body, whatever their type.
func (ts *testServer) send(method, path, contentType, body string, header map[string]string) (int, http.Header, []byte) {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.base+path, bytes.NewReader([]byte(body)))
	if err != nil {
		ts.t.Fatal(err)
	}
	if body == "" {
		req.Body = http.NoBody
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if ts.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+ts.bearer)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
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
	return resp.StatusCode, resp.Header, raw
}

type step struct {
	method, path, contentType, body string
	header                          map[string]string
	status                          int
}

func (ts *testServer) tour(steps []step) {
	ts.t.Helper()
	for _, s := range steps {
		if status, _, raw := ts.send(s.method, s.path, s.contentType, s.body, s.header); status != s.status {
			ts.t.Errorf("%s %s: %d %s, want %d", s.method, s.path, status, raw, s.status)
		}
	}
}

// TestContractTour sends what the rest of the suite does not (or not through the contract check): every
// documented operation is exchanged at least once, with the statuses a client meets, each exchange checked
// against api/openapi.yaml by the test server's client.
func TestContractTour(t *testing.T) {
	const j, y = "application/json", "application/yaml"
	h := features.NewHasher([]byte("test"))
	reg := lists.NewRegistry(lists.Hashers{User: h.User, Device: h.Device}, nil)
	ts := startWith(t, func(c *server.Config) { c.Lists, c.Pprof = reg, true },
		func(c *engine.Config) { c.Lists = reg })
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	ruleFile := "version: tour\nthresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: tor, when: is_tor, score: 90}\n"
	ts.tour([]step{
		{"POST", "/v1/decide?explain=1", j, `{"type":"registration","ip":"` + ipTor + `","device_id":null,"attributes":{"campaign":"spring"}}`, nil, 200},
		{"POST", "/v1/decide", j, `{"type":"checkout","user_id":"tu","ip":"` + ipMilton + `","amount":12.5,"currency":"EUR","channel":"web","mfa_preference":"sensitive"}`, map[string]string{"X-Request-Start": "t=1700000000.000"}, 200},
		{"POST", "/v1/events", j, `{"type":"password_changed","user_id":"tu"}`, nil, 200},
		{"GET", "/v1/decide", "", "", nil, 405},
		{"POST", "/v1/decide", "text/plain", `{}`, nil, 415},
		{"POST", "/v1/decide", j, `{}`, map[string]string{"Host": "rebind.example"}, 421},
		{"POST", "/healthz", j, `{}`, nil, 405},
		{"HEAD", "/healthz", "", "", nil, 200},
		{"HEAD", "/readyz", "", "", nil, 200},
		{"HEAD", "/openapi.yaml", "", "", nil, 200},
		{"GET", "/metrics", "", "", nil, 200},
		{"GET", "/debug/pprof/cmdline", "", "", nil, 200},
		{"GET", "/nowhere", "", "", nil, 404},
		{"GET", "/v1/users/nobody", "", "", nil, 404},
		{"GET", "/v1/users/%2E%2E", "", "", nil, 400},
		{"GET", "/v1/users/a/./b", "", "", nil, 400},
		{"PUT", "/v1/users/tu/preferences", j, `{"mfa_preference":"always"}`, nil, 200},
		{"PUT", "/v1/users/tu/preferences", j, `{"mfa_preference":"never"}`, nil, 400},
		{"GET", "/v1/users/tu", "", "", nil, 200},
		{"PATCH", "/v1/users/tu", j, `{}`, nil, 405},
		{"DELETE", "/v1/users/tu", "", "", nil, 204},

		{"GET", "/v1/lists", "", "", nil, 200},
		{"PUT", "/v1/lists/tour", j, `{"kind":"ip","entries":[{"value":"192.0.2.0/24","expires":"` + expires + `","note":"INC-1"}]}`, nil, 200},
		{"PUT", "/v1/lists/tour", j, `{"kind":"colour","entries":[]}`, nil, 400},
		{"GET", "/v1/lists", "", "", nil, 200},
		{"GET", "/v1/lists/tour", "", "", nil, 200},
		{"POST", "/v1/lists/tour/remove", j, `{"values":["192.0.2.0/24"]}`, nil, 200},
		{"DELETE", "/v1/lists/tour", "", "", nil, 204},
		{"DELETE", "/v1/lists/tour", "", "", nil, 404},
		{"PUT", "/v1/exceptions/x1", j, `{"rules":["new_country"],"user":"tu","asn":64500,"expires":"` + expires + `","note":"travelling"}`, nil, 200},
		{"GET", "/v1/exceptions", "", "", nil, 200},
		{"DELETE", "/v1/exceptions/x1", "", "", nil, 204},
		{"DELETE", "/v1/exceptions/x1", "", "", nil, 404},

		{"GET", "/v1/rules", "", "", nil, 200},
		{"POST", "/v1/rules/validate", y, ruleFile, nil, 200},
		{"PUT", "/v1/rules/validate", "text/yaml", ruleFile, nil, 200},
		{"POST", "/v1/rules/validate", y, "version: broken\n", nil, 422},
		{"POST", "/v1/rules/validate", y, "", nil, 400},
		{"POST", "/v1/rules/backtest", y, ruleFile, nil, 409},
		{"PUT", "/v1/rules/backtest", y, ruleFile, nil, 409},
		{"PUT", "/v1/rules/shadow", y, ruleFile, nil, 200},
		{"GET", "/v1/rules", "", "", nil, 200},
		{"DELETE", "/v1/rules/shadow", "", "", nil, 204},
		{"PUT", "/v1/rules", y, ruleFile, nil, 200},
	})
	ts.srv.Drain()
	ts.tour([]step{{"GET", "/readyz", "", "", nil, 503}})

	// With keys: the public operations, and the refusals a key meets.
	keyed := startWith(t, func(c *server.Config) { c.Keys = testKeyring(t) })
	keyed.tour([]step{
		{"GET", "/readyz", "", "", nil, 200},
		{"GET", "/healthz", "", "", nil, 200},
		{"GET", "/openapi.yaml", "", "", nil, 200},
		{"GET", "/metrics", "", "", nil, 401},
		{"GET", "/v1/lists", "", "", nil, 401},
	})
	keyed.bearer = secretIdP
	keyed.tour([]step{
		{"GET", "/v1/rules", "", "", nil, 403},
		{"POST", "/v1/events", j, `{"type":"login_failed","user_id":"k","ip":"` + ipMilton + `"}`, nil, 200},
	})
	keyed.bearer = secretBrandA
	keyed.tour([]step{{"POST", "/v1/events", j, `{"type":"login_failed","user_id":"k","tenant":"brand-b"}`, nil, 403}})

	// Without lists.
	start(t).tour([]step{{"GET", "/v1/lists", "", "", nil, 404}, {"GET", "/v1/exceptions", "", "", nil, 404}})
}
