package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/riskd/riskd/server"
)

// kratosBody is a hook body as integrations/kratos/login-after.jsonnet writes it.
func kratosBody(identity, aal, ip string) map[string]any {
	b := map[string]any{
		"flow":            map[string]any{"id": "5d1d1c9e-3f5c-4a4e-9a43-3f0b7c1d2e01", "type": "browser", "active": "password", "requested_aal": "aal1"},
		"request_headers": map[string]any{"True-Client-Ip": []string{ip}, "User-Agent": []string{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}, "Accept": []string{"text/html"}},
	}
	if identity != "" {
		b["identity"] = map[string]any{"id": identity}
	}
	if aal != "" {
		b["session"] = map[string]any{"authenticator_assurance_level": aal}
	}
	return b
}

// startKratos starts a server whose adapter waits long enough for a decision that compiles the user-agent
// parser under the race detector: these tests are about the answers, TestKratosDeadline about the deadline.
func startKratos(t *testing.T, configure func(*server.Config)) *testServer {
	return startWith(t, func(c *server.Config) {
		c.KratosDeadline = time.Minute
		if configure != nil {
			configure(c)
		}
	})
}

func (ts *testServer) kratos(hook string, body any) (int, map[string]any) {
	ts.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return ts.do(http.MethodPost, "/v1/adapters/kratos/"+hook, "application/json", raw)
}

// requiredAAL asks the session endpoint as an application does after whoami.
func (ts *testServer) requiredAAL(identity, aal string) string {
	ts.t.Helper()
	status, m := ts.kratos("session", map[string]any{"id": "b5c0a2d4-0000-4000-8000-000000000001", "active": true,
		"authenticator_assurance_level": aal, "identity": map[string]any{"id": identity, "traits": map[string]any{"email": "x@example.com"}}})
	if status != http.StatusOK {
		ts.t.Fatalf("session: %d %v", status, m)
	}
	return m["required_aal"].(string)
}

// kratosMessage returns the id and text of a refusal in Kratos's messages format.
func kratosMessage(t *testing.T, m map[string]any) (float64, string) {
	t.Helper()
	outer, _ := m["messages"].([]any)
	if len(outer) != 1 {
		t.Fatalf("not one Kratos message group: %v", m)
	}
	inner, _ := outer[0].(map[string]any)["messages"].([]any)
	if len(inner) != 1 {
		t.Fatalf("not one Kratos message: %v", m)
	}
	msg := inner[0].(map[string]any)
	return msg["id"].(float64), msg["text"].(string)
}

// TestKratosLoginAfter: a clean login goes on, an address riskd denies is refused in Kratos's messages format,
// and a risky login goes on at aal1 with the identity owing aal2 until its login at aal2.
func TestKratosLoginAfter(t *testing.T) {
	ts := startKratos(t, nil)
	const ana, bob = "9f8c3a52-1b0e-4d55-8f0e-6c1a7e2b0001", "9f8c3a52-1b0e-4d55-8f0e-6c1a7e2b0002"

	status, m := ts.kratos("login/after", kratosBody(ana, "aal1", ipClean))
	if status != http.StatusOK || m["decision"] != "allow" || m["fallback"] != false {
		t.Fatalf("clean login: %d %v", status, m)
	}
	if got := ts.requiredAAL(ana, "aal1"); got != "aal1" {
		t.Fatalf("a clean login owes %s", got)
	}

	status, m = ts.kratos("login/after", kratosBody(ana, "aal1", ipAllFlags))
	if status != http.StatusForbidden {
		t.Fatalf("denied login: %d %v", status, m)
	}
	if id, text := kratosMessage(t, m); id != server.KratosMessageDenied || text == "" {
		t.Fatalf("denied login: message %v %q", id, text)
	}

	status, m = ts.kratos("login/after", kratosBody(bob, "aal1", ipTor))
	if status != http.StatusOK || m["decision"] != "step_up" || m["required_aal"] != "aal2" {
		t.Fatalf("risky login: %d %v", status, m)
	}
	if got := ts.requiredAAL(bob, "aal1"); got != "aal2" {
		t.Fatalf("a stepped-up identity at aal1 owes %s, want aal2", got)
	}
	if got := ts.requiredAAL(ana, "aal1"); got != "aal1" {
		t.Fatalf("another identity owes %s", got)
	}
	// The same identity's session in another tenant owes nothing: marks are per tenant.
	status, m = ts.do(http.MethodPost, "/v1/adapters/kratos/session?tenant=brand-b", "application/json",
		jsonOf(t, map[string]any{"authenticator_assurance_level": "aal1", "identity": map[string]any{"id": bob}}))
	if status != http.StatusOK || m["required_aal"] != "aal1" {
		t.Fatalf("other tenant: %d %v", status, m)
	}

	// The login at aal2 settles it.
	status, m = ts.kratos("login/after", kratosBody(bob, "aal2", ipTor))
	if status != http.StatusOK || m["decision"] != "allow" {
		t.Fatalf("login at aal2: %d %v", status, m)
	}
	if got := ts.requiredAAL(bob, "aal1"); got != "aal1" {
		t.Fatalf("after the login at aal2 the identity still owes %s", got)
	}
}

// TestKratosBeforeHooks: before the identity is known only a deny acts.
func TestKratosBeforeHooks(t *testing.T) {
	ts := startKratos(t, nil)
	for _, hook := range []string{"login/before", "registration/before"} {
		status, m := ts.kratos(hook, kratosBody("", "", ipAllFlags))
		if status != http.StatusForbidden {
			t.Fatalf("%s from a denied address: %d %v", hook, status, m)
		}
		status, m = ts.kratos(hook, kratosBody("", "", ipTor))
		if status != http.StatusOK || m["decision"] != "step_up" || m["required_aal"] != nil {
			t.Fatalf("%s from a risky address: %d %v, want the flow to go on", hook, status, m)
		}
	}
}

// TestKratosRegistrationAfter: the pre-persist hook's nil identity id reads as absent; a deny refuses.
func TestKratosRegistrationAfter(t *testing.T) {
	ts := startKratos(t, nil)
	status, m := ts.kratos("registration/after", kratosBody("00000000-0000-0000-0000-000000000000", "", ipClean))
	if status != http.StatusOK || m["decision"] != "allow" {
		t.Fatalf("clean registration: %d %v", status, m)
	}
	status, m = ts.kratos("registration/after", kratosBody("", "", ipAllFlags))
	if status != http.StatusForbidden {
		t.Fatalf("registration from a denied address: %d %v", status, m)
	}
}

// TestKratosNoAddress: without the address header (no proxy sets it) the fail policy answers rather than the
// login failing; a configured header is read instead of True-Client-Ip.
func TestKratosNoAddress(t *testing.T) {
	ts := startKratos(t, nil)
	body := kratosBody("9f8c3a52-1b0e-4d55-8f0e-6c1a7e2b0003", "aal1", ipAllFlags)
	delete(body["request_headers"].(map[string]any), "True-Client-Ip")
	status, m := ts.kratos("login/after", body)
	if status != http.StatusOK || m["decision"] != "allow" || m["fallback"] != true {
		t.Fatalf("no address: %d %v, want the fail policy's allow", status, m)
	}

	ts = startKratos(t, func(c *server.Config) { c.KratosIPHeader = "X-Client-Address" })
	body["request_headers"].(map[string]any)["x-client-address"] = ipAllFlags
	status, m = ts.kratos("login/after", body)
	if status != http.StatusForbidden {
		t.Fatalf("configured header: %d %v, want the address in it denied", status, m)
	}
}
