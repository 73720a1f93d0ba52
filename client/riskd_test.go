package client_test

import (
	"context"
	"errors"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/riskd/riskd/client"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/internal/contracttest"
	"github.com/riskd/riskd/server"
	"github.com/riskd/riskd/server/servertest"
)

// Addresses from MaxMind's test databases (see ../shared/README.md).
const (
	ipMilton = "216.160.83.56" // Milton, US
	ipTor    = "65.0.0.1"      // a Tor exit
)

// startRiskd serves riskd (the built-in rules, MaxMind's test databases, memory state) on a loopback port and
// returns its base URL.
func startRiskd(t *testing.T) string {
	t.Helper()
	return servertest.Start(t, server.Config{})
}

// newClient returns a client of riskd at base whose every exchange is checked against api/openapi.yaml. The
// timeout is generous: these tests check the calls, not the failover, on a machine shared with other builds.
func newClient(t *testing.T, base string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{BaseURL: base, Timeout: 2 * time.Second,
		Transport: contracttest.Transport(t, client.NewTransport(2*time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestCallsAgainstRiskd(t *testing.T) {
	c := newClient(t, startRiskd(t))
	ctx := context.Background()
	valid := true

	d, err := c.Decide(ctx, &client.DecideRequest{Type: client.Login, UserID: "ana", IP: ipMilton, DeviceID: "laptop-1",
		CredentialsValid: &valid, Timestamp: time.Now().Add(-time.Hour)})
	if err != nil || d.Fallback || d.Decision != client.Allow || len(d.EvaluationID) != 16 || d.RulesVersion == "" {
		t.Fatalf("first login: %+v, %v; want allow from riskd", d, err)
	}
	if err := c.ReportOutcome(ctx, &client.Outcome{Type: client.MFAPassed, UserID: "ana", IP: ipMilton,
		DeviceID: "laptop-1", EvaluationID: d.EvaluationID}); err != nil {
		t.Fatal(err)
	}

	tor, err := c.Decide(ctx, &client.DecideRequest{Type: client.Checkout, UserID: "ana", IP: ipTor, DeviceID: "laptop-1",
		Amount: new(float64), Currency: "EUR", Attributes: map[string]string{"cart": "c-1"}})
	if err != nil || tor.Fallback || tor.Decision == client.Allow || len(tor.Reasons) == 0 {
		t.Fatalf("checkout from a Tor exit: %+v, %v; want step_up or deny with reasons", tor, err)
	}

	// A purchase teaches the customer's spending; without its amount riskd refuses it, naming the field.
	paid := 42.5
	if err := c.ReportOutcome(ctx, &client.Outcome{Type: client.CheckoutCompleted, UserID: "ana", IP: ipMilton,
		DeviceID: "laptop-1", Amount: &paid, Currency: "EUR"}); err != nil {
		t.Fatalf("checkout_completed: %v", err)
	}
	var unpaid *client.APIError
	if err := c.ReportOutcome(ctx, &client.Outcome{Type: client.CheckoutCompleted, UserID: "ana", IP: ipMilton}); !errors.As(err, &unpaid) ||
		unpaid.Status != 400 || unpaid.Field != "amount" {
		t.Fatalf("checkout_completed without an amount: %v; want 400 naming amount", err)
	}

	// A request riskd refuses is the caller's to fix: the error says why, and the decision is still usable.
	bad, err := c.Decide(ctx, &client.DecideRequest{Type: client.Login, UserID: "ana", IP: "not-an-ip"})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "invalid_ip" || ae.Field != "ip" {
		t.Fatalf("bad ip: %v; want 400 invalid_ip naming ip", err)
	}
	if !bad.Fallback || bad.Decision != client.Allow {
		t.Fatalf("bad ip: %+v; want the fail policy's allow", bad)
	}

	// Outcomes through the queue arrive once Close has flushed it.
	for range 3 {
		if !c.Enqueue(client.Outcome{Type: client.LoginSucceeded, UserID: "bo", IP: ipMilton, DeviceID: "phone"}) {
			t.Fatal("Enqueue dropped an outcome with an empty queue")
		}
	}
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Sent != 3 || s.Dropped != 0 || s.Queued != 0 {
		t.Fatalf("stats after Close: %+v; want 3 sent", s)
	}

	u, err := c.ExportUser(ctx, "bo")
	if err != nil || u.SuccessfulLogins != 3 || len(u.Devices) != 1 || u.Velocity["successes"].H1 != 3 {
		t.Fatalf("export after 3 queued login_succeeded: %+v, %v", u, err)
	}
	ana, err := c.ExportUser(ctx, "ana")
	if err != nil || len(ana.Devices) != 1 || ana.Devices[0].TrustedSince == "" {
		t.Fatalf("export after mfa_passed: %+v, %v; want the device trusted", ana, err)
	}
	if err := c.SetMFAPreference(ctx, "ana", client.MFAAlways); err != nil {
		t.Fatal(err)
	}
	if ana, err = c.ExportUser(ctx, "ana"); err != nil || ana.MFAPreference != client.MFAAlways {
		t.Fatalf("preference after SetMFAPreference: %+v, %v", ana, err)
	}
	if err := c.EraseUser(ctx, "ana"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExportUser(ctx, "ana"); !errors.As(err, &ae) || ae.Status != 404 || ae.Code != "user_not_found" {
		t.Fatalf("export after erasure: %v; want 404 user_not_found", err)
	}
	// An id with a slash is one path segment, escaped, not a path.
	if _, err := c.ExportUser(ctx, "a/../../v1/rules"); !errors.As(err, &ae) || ae.Code != "user_not_found" {
		t.Fatalf("export of an id with slashes: %v; want user_not_found", err)
	}
	if _, err := c.ExportUser(ctx, ".."); err == nil {
		t.Fatal("export of the id ..: no error")
	}

	live, err := c.Rules(ctx)
	if err != nil || live.Version == "" || len(live.Rules) == 0 || live.Thresholds.StepUp == 0 {
		t.Fatalf("rules: %+v, %v", live, err)
	}
	file := []byte("version: client-test\nthresholds: {step_up: 40, deny: 80}\nrules:\n" +
		"  - id: tor_exit\n    description: A Tor exit node.\n    when: is_tor\n    score: 90\n")
	v, err := c.ValidateRules(ctx, file)
	if err != nil || !v.Valid || v.Version != "client-test" || v.Rules != 1 {
		t.Fatalf("validate: %+v, %v", v, err)
	}
	if _, err := c.ValidateRules(ctx, []byte("version: x\nrules: [{id: r, when: no_such_feature, score: 1}]\n")); !errors.As(err, &ae) ||
		ae.Status != 422 || ae.Code != "invalid_rules" {
		t.Fatalf("validate of a broken file: %v; want 422 invalid_rules", err)
	}
	r, err := c.PutRules(ctx, file)
	if err != nil || r.Version != "client-test" || r.Previous != live.Version {
		t.Fatalf("put: %+v, %v", r, err)
	}
	if now, err := c.Rules(ctx); err != nil || now.Version != "client-test" {
		t.Fatalf("rules after put: %+v, %v", now, err)
	}
}

// TestDecideReusesConnections: decisions go over kept-alive connections, not a new connection (and its
// handshake) per login.
func TestDecideReusesConnections(t *testing.T) {
	c := newClient(t, startRiskd(t))
	reused := 0
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				reused++
			}
		}})
	for i := range 5 {
		d, err := c.Decide(ctx, &client.DecideRequest{Type: client.Login, UserID: "kay", IP: ipMilton})
		if err != nil || d.Fallback {
			t.Fatalf("decision %d: %+v, %v", i, d, err)
		}
	}
	if reused != 4 {
		t.Fatalf("%d of 4 later decisions reused a connection", reused)
	}
}

// TestFailPolicyIsRiskds: the client falls back to what riskd itself would decide, event type by event type.
func TestFailPolicyIsRiskds(t *testing.T) {
	want := engine.DefaultFailPolicy()
	got := client.DefaultFailPolicy()
	n := int(features.NumEventTypes - features.Login)
	if len(got) != n || len(client.EventTypes()) != n {
		t.Fatalf("the client knows %d event types (%d in its policy), riskd %d", len(client.EventTypes()), len(got), n)
	}
	for et := features.Login; et < features.NumEventTypes; et++ {
		name := client.EventType(et.String())
		if a, ok := got[name]; !ok || string(a) != want[et].String() {
			t.Errorf("fail policy for %s: client %q, riskd %q", name, a, want[et].String())
		}
	}
}

// TestParseFailPolicyReadsRiskdsFlag: the client reads --fail-policy strings as riskd does, and refuses those
// riskd refuses.
func TestParseFailPolicyReadsRiskdsFlag(t *testing.T) {
	for _, s := range []string{"", "checkout=deny", "login=step_up, registration=deny ,", engine.DefaultFailPolicy().String(),
		"login=maybe", "logon=allow", "login", "login=allow,checkout"} {
		want, werr := engine.ParseFailPolicy(s)
		got, gerr := client.ParseFailPolicy(s)
		if (werr != nil) != (gerr != nil) {
			t.Errorf("%q: riskd %v, client %v", s, werr, gerr)
			continue
		}
		if werr != nil {
			continue
		}
		for et := features.Login; et < features.NumEventTypes; et++ {
			if a := got[client.EventType(et.String())]; string(a) != want[et].String() {
				t.Errorf("%q: %s is %q for the client, %q for riskd", s, et, a, want[et].String())
			}
		}
	}
}

// TestConfigRefusesBadPolicies: a fail policy must name a decision.
func TestConfigRefusesBadPolicies(t *testing.T) {
	if _, err := client.New(client.Config{BaseURL: "http://127.0.0.1:1", FailPolicy: map[client.EventType]client.Action{client.Login: "maybe"}}); err == nil {
		t.Fatal("a fail policy of maybe was accepted")
	}
	if _, err := client.New(client.Config{BaseURL: "127.0.0.1:8080"}); err == nil {
		t.Fatal("a base URL without scheme was accepted")
	}
}
