package server_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/server"
	"github.com/riskd/riskd/signals"
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

	tourSSF(t)
}

// tourSSF exchanges every operation of the Shared Signals transmitter, and the refusals a receiver meets.
func tourSSF(t *testing.T) {
	const j = "application/json"
	ts := startSSF(t, func(c *signals.Config) { c.MaxStreams = 1 })
	const token = "Bearer tour-poller"
	create := `{"events_requested":["` + signals.EventRiskLevelChange + `"],"delivery":{"method":"` + signals.DeliveryPoll +
		`","authorization_header":"` + token + `"},"format":"ignored"}`
	ts.tour([]step{
		{"GET", "/.well-known/ssf-configuration", "", "", nil, 200},
		{"POST", "/.well-known/ssf-configuration", j, `{}`, nil, 405},
		{"GET", "/ssf/jwks.json", "", "", nil, 200},
		{"DELETE", "/ssf/jwks.json", "", "", nil, 405},
		{"GET", "/ssf/stream", "", "", nil, 200},
		{"POST", "/ssf/stream", "text/plain", create, nil, 415},
		{"POST", "/ssf/stream", j, `{"delivery":{"method":"urn:example:carrier-pigeon"}}`, nil, 400},
		{"POST", "/ssf/stream", j, `{"events_requested":"all"}`, nil, 400},
		{"GET", "/ssf/stream", "", "", map[string]string{"Host": "rebind.example"}, 421},
	})
	status, _, raw := ts.send("POST", "/ssf/stream", j, create, nil)
	var cfg signals.StreamConfig
	if err := json.Unmarshal(raw, &cfg); status != 201 || err != nil {
		t.Fatalf("create a stream: %d %s", status, raw)
	}
	id := cfg.StreamID
	poll := map[string]string{"Authorization": token}
	ts.tour([]step{
		{"POST", "/ssf/stream", j, create, nil, 409},
		{"GET", "/ssf/stream", "", "", nil, 200},
		{"GET", "/ssf/stream?stream_id=" + id, "", "", nil, 200},
		{"GET", "/ssf/stream?stream_id=nope", "", "", nil, 404},
		{"PATCH", "/ssf/stream", j, `{"stream_id":"` + id + `","description":"tour","aud":null}`, nil, 200},
		{"PUT", "/ssf/stream", j, `{"stream_id":"` + id + `","aud":"https://receiver.example"}`, nil, 200},
		{"PATCH", "/ssf/stream", j, `{"description":"no id"}`, nil, 400},
		{"PATCH", "/ssf/stream", j, `{"stream_id":"nope"}`, nil, 404},
		{"OPTIONS", "/ssf/stream", "", "", nil, 405},
		{"GET", "/ssf/status?stream_id=" + id, "", "", nil, 200},
		{"GET", "/ssf/status?stream_id=nope", "", "", nil, 404},
		{"POST", "/ssf/status", j, `{"stream_id":"` + id + `","status":"paused","reason":"tour"}`, nil, 200},
		{"POST", "/ssf/status", j, `{"stream_id":"` + id + `","status":"enabled"}`, nil, 200},
		{"POST", "/ssf/status", j, `{"stream_id":"` + id + `","status":"asleep"}`, nil, 400},
		{"PUT", "/ssf/status", j, `{}`, nil, 405},
		{"POST", "/ssf/subjects:add", j, `{"stream_id":"` + id + `","subject":{"format":"opaque","id":"tu"},"verified":true}`, nil, 200},
		{"POST", "/ssf/subjects:add", j, `{"stream_id":"` + id + `","subject":{"format":"email","email":"a@b.example"}}`, nil, 400},
		{"GET", "/ssf/subjects:add", "", "", nil, 405},
		{"POST", "/ssf/subjects:remove", j, `{"stream_id":"` + id + `","subject":{"format":"iss_sub","iss":"https://idp.example","sub":"tv"}}`, nil, 204},
		{"POST", "/ssf/subjects:remove", j, `{"stream_id":"nope","subject":{"format":"opaque","id":"tu"}}`, nil, 404},
		{"POST", "/ssf/verify", j, `{"stream_id":"` + id + `","state":"tour"}`, nil, 204},
		{"POST", "/ssf/verify", j, `{"stream_id":"nope"}`, nil, 404},
		{"GET", "/ssf/verify", "", "", nil, 405},
		{"POST", "/ssf/poll/" + id, j, `{"returnImmediately":true}`, poll, 200},
		{"POST", "/ssf/poll/" + id, "", "", poll, 200},
		{"POST", "/ssf/poll/" + id, j, `{"ack":["none"],"setErrs":{"none":{"err":"jwtIss","description":"tour"}},"maxEvents":0}`, poll, 200},
		{"POST", "/ssf/poll/" + id, j, `{"maxEvents":-1}`, poll, 400},
		{"POST", "/ssf/poll/" + id, "text/plain", `{}`, poll, 415},
		{"POST", "/ssf/poll/" + id, j, `{"returnImmediately":true}`, nil, 401},
		{"POST", "/ssf/poll/nope", j, `{"returnImmediately":true}`, poll, 401},
		{"GET", "/ssf/poll/" + id, "", "", poll, 405},
		{"DELETE", "/ssf/stream", "", "", nil, 400},
		{"DELETE", "/ssf/stream?stream_id=" + id, "", "", nil, 204},
		{"DELETE", "/ssf/stream?stream_id=" + id, "", "", nil, 404},
	})

	// With keys: management needs an admin key of every tenant; discovery, the JWKS and polls need none.
	keyed := startSSF(t, nil, func(c *server.Config) { c.Keys = testKeyring(t) })
	keyed.tour([]step{
		{"GET", "/.well-known/ssf-configuration", "", "", nil, 200},
		{"GET", "/ssf/jwks.json", "", "", nil, 200},
		{"GET", "/ssf/stream", "", "", nil, 401},
		{"POST", "/ssf/poll/nope", j, `{}`, nil, 401},
	})
	keyed.bearer = secretIdP
	keyed.tour([]step{{"POST", "/ssf/stream", j, create, nil, 403}})
	keyed.bearer = secretBrandAd
	keyed.tour([]step{{"GET", "/ssf/status?stream_id=x", "", "", nil, 403}})

	// An RSA signing key, with the old EC key still published: the JWKS holds a key of each type.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signing, err := signals.ParseKey(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	if err != nil {
		t.Fatal(err)
	}
	old, err := signals.EphemeralKey()
	if err != nil {
		t.Fatal(err)
	}
	rotated := startSSF(t, func(c *signals.Config) { c.Key, c.OldKeys = signing, []*signals.Key{old} })
	status, _, raw = rotated.send("GET", "/ssf/jwks.json", "", "", nil)
	var jwks struct {
		Keys []struct {
			Kty string `json:"kty"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &jwks); status != 200 || err != nil || len(jwks.Keys) != 2 || jwks.Keys[0].Kty != "RSA" || jwks.Keys[1].Kty != "EC" {
		t.Fatalf("JWKS after a rotation to RSA: %d %s", status, raw)
	}

	// With a separate admin listener, the main one serves no stream management.
	startSSF(t, nil, func(c *server.Config) { c.SeparateAdmin = true }).tour([]step{
		{"GET", "/ssf/stream", "", "", nil, 404},
		{"GET", "/.well-known/ssf-configuration", "", "", nil, 200},
	})
}
