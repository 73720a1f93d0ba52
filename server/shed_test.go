package server

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/engine"
)

func decideCtx(body string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetRequestURI("/v1/decide")
	ctx.Request.SetBodyString(body)
	return &ctx
}

// overload makes the next request see more requests in flight than the limit allows.
func overload(s *Server) { s.inflight.Store(int64(s.cfg.MaxInflight)) }

func TestOverloadRejectsFastWithRetryAfter(t *testing.T) {
	s := newTestServer(t)
	overload(s)
	ctx := decideCtx(`{"type":"login","user_id":"quin","ip":"216.160.83.56","credentials_valid":true}`)
	s.Handle(ctx)
	if ctx.Response.StatusCode() != 503 || string(ctx.Response.Header.Peek("Retry-After")) == "" {
		t.Fatalf("status %d, Retry-After %q: %s", ctx.Response.StatusCode(), ctx.Response.Header.Peek("Retry-After"), ctx.Response.Body())
	}
	var m map[string]map[string]string
	if err := json.Unmarshal(ctx.Response.Body(), &m); err != nil || m["error"]["code"] != "overloaded" {
		t.Fatalf("body %s", ctx.Response.Body())
	}
	s.inflight.Store(0)
	if hasState(s, "quin") {
		t.Fatal("a shed request changed state")
	}
}

func TestOverloadFallbackFollowsFailPolicy(t *testing.T) {
	s := newTestServer(t)
	s.cfg.ShedWithFallback = true
	for body, want := range map[string]string{
		`{"type":"login","user_id":"ray","ip":"216.160.83.56","credentials_valid":true}`:              "allow",
		`{"type":"checkout","user_id":"ray","ip":"216.160.83.56","amount":5,"currency":"EUR"}`:        "step_up",
		`{"type":"payment_method_change","user_id":"ray","ip":"216.160.83.56","device_id":"x"}`:       "step_up",
		`{"type":"registration","ip":"216.160.83.56","device_id":"x","attributes":{"source":"mail"}}`: "allow",
	} {
		overload(s)
		ctx := decideCtx(body)
		s.Handle(ctx)
		var d struct {
			Decision string
			Reasons  []struct{ Code string }
		}
		if err := json.Unmarshal(ctx.Response.Body(), &d); err != nil || ctx.Response.StatusCode() != 200 {
			t.Fatalf("%s: %d %s", body, ctx.Response.StatusCode(), ctx.Response.Body())
		}
		if d.Decision != want || len(d.Reasons) != 1 || d.Reasons[0].Code != engine.CodeFailPolicy {
			t.Fatalf("%s: %+v, want %s by fail policy", body, d, want)
		}
	}
	s.inflight.Store(0)
	if hasState(s, "ray") {
		t.Fatal("a fallback decision changed state")
	}
}

func hasState(s *Server, user string) bool {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("/v1/users/" + user)
	ctx.Request.Header.SetMethod(fasthttp.MethodGet)
	s.Handle(ctx)
	return ctx.Response.StatusCode() == 200
}

func TestQueueBudgetShedsStaleRequestsOnly(t *testing.T) {
	s := newTestServer(t)
	s.cfg.QueueBudget = 20 * time.Millisecond
	send := func(user, start string) int {
		ctx := decideCtx(`{"type":"login","user_id":"` + user + `","ip":"216.160.83.56","credentials_valid":true}`)
		if start != "" {
			ctx.Request.Header.Set(HeaderRequestStart, start)
		}
		s.Handle(ctx)
		return ctx.Response.StatusCode()
	}
	now := time.Now()
	stale := "t=" + strconv.FormatFloat(float64(now.Add(-time.Second).UnixMicro())/1e6, 'f', 6, 64)
	if code := send("sam", stale); code != 503 {
		t.Fatalf("a request queued 1 s ago against a 20 ms budget: status %d, want 503", code)
	}
	if hasState(s, "sam") {
		t.Fatal("a request shed for its age changed state")
	}
	if got := s.shedLate.Get(); got != 1 {
		t.Fatalf("riskd_shed_late_requests_total = %d, want 1", got)
	}
	// Each stamp is taken just before its request: on a busy machine (-race, parallel packages) the decisions
	// before it can take longer than the budget, which would make a stamp taken earlier stale.
	for _, c := range []struct {
		user  string
		start func() string
	}{
		{"tess", func() string { return strconv.FormatInt(time.Now().UnixMilli(), 10) }},                 // fresh, in milliseconds
		{"uma", func() string { return strconv.FormatInt(time.Now().Add(time.Second).UnixMicro(), 10) }}, // a caller's clock ahead of riskd's
		{"vic", func() string { return "" }},                                                             // no header: never shed for age
		{"wes", func() string { return "not a time" }},                                                   // unreadable: ignored
	} {
		start := c.start()
		if code := send(c.user, start); code != 200 {
			t.Fatalf("%s (X-Request-Start %q): status %d, want 200", c.user, start, code)
		}
	}
	if got := s.shedLate.Get(); got != 1 {
		t.Fatalf("riskd_shed_late_requests_total = %d after fresh requests, want still 1", got)
	}
}

// staleStamp is an X-Request-Start a second old: past any queue budget the tests set.
func staleStamp() string { return strconv.FormatInt(time.Now().Add(-time.Second).UnixMicro(), 10) }

// TestShedFirstChangesNothingAndSkipsTheRest: a request shed for its age is refused before routing checks,
// authentication and the body: an unauthenticated caller, a foreign Host and a body that is not JSON all get
// the same pre-rendered 503, and neither decide nor events changes any state. The same requests, not stale, get
// the answers those checks give.
func TestShedFirstChangesNothingAndSkipsTheRest(t *testing.T) {
	s := withDecideKey(t, newTestServerWith(t, func(c *Config) { c.QueueBudget = 20 * time.Millisecond }))
	send := func(path, secret, body, stamp string) *fasthttp.RequestCtx {
		ctx := decideCtx(body)
		ctx.Request.SetRequestURI(path)
		if secret != "" {
			ctx.Request.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+secret)
		}
		if stamp != "" {
			ctx.Request.Header.Set(HeaderRequestStart, stamp)
		}
		s.Handle(ctx)
		return ctx
	}
	login := `{"type":"login","user_id":"zoe","ip":"216.160.83.56","credentials_valid":true}`
	outcome := `{"type":"login","user_id":"zoe","ip":"216.160.83.56","outcome":"success"}`
	for _, c := range []struct{ name, path, secret, body string }{
		{"decide, no key", "/v1/decide", "", login},
		{"decide, wrong key", "/v1/decide", "rk_nope", login},
		{"decide, a body that is not JSON", "/v1/decide", "rk_idp", "{"},
		{"decide with a query", "/v1/decide?explain=1", "", login},
		{"events, no key", "/v1/events", "", outcome},
		{"events", "/v1/events", "rk_idp", outcome},
	} {
		ctx := send(c.path, c.secret, c.body, staleStamp())
		if ctx.Response.StatusCode() != fasthttp.StatusServiceUnavailable || string(ctx.Response.Header.Peek("Retry-After")) != "1" {
			t.Fatalf("%s, stale: status %d, Retry-After %q, want 503 and 1: %s", c.name, ctx.Response.StatusCode(),
				ctx.Response.Header.Peek("Retry-After"), ctx.Response.Body())
		}
		var m map[string]map[string]string
		if err := json.Unmarshal(ctx.Response.Body(), &m); err != nil || m["error"]["code"] != "overloaded" {
			t.Fatalf("%s: body %s", c.name, ctx.Response.Body())
		}
	}
	if got := s.shed.Get(); got != 6 {
		t.Fatalf("riskd_shed_requests_total = %d, want 6", got)
	}
	if got := s.shedLate.Get(); got != 6 {
		t.Fatalf("riskd_shed_late_requests_total = %d, want 6", got)
	}
	if got := s.authFails.Get(); got != 0 {
		t.Fatalf("shed requests counted %d authentication failures: they were not authenticated", got)
	}
	kr := s.keys.Swap(nil)
	if hasState(s, "zoe") {
		t.Fatal("a shed request changed state")
	}
	s.keys.Store(kr)
	// Fresh, the same requests meet the checks the refusal skipped.
	for _, c := range []struct {
		path, secret, body string
		want               int
	}{
		{"/v1/decide", "", login, fasthttp.StatusUnauthorized},
		{"/v1/decide", "rk_idp", "{", fasthttp.StatusBadRequest},
		{"/v1/decide", "rk_idp", login, fasthttp.StatusOK},
	} {
		if ctx := send(c.path, c.secret, c.body, strconv.FormatInt(time.Now().UnixMicro(), 10)); ctx.Response.StatusCode() != c.want {
			t.Fatalf("%s key %q body %s, fresh: status %d, want %d", c.path, c.secret, c.body, ctx.Response.StatusCode(), c.want)
		}
	}
}

// TestShedFallbackByAgeFollowsFailPolicy: with --shed fallback, a request shed for its age gets the fail
// policy's decision for its type and tenant, with an evaluation id of that tenant, changes no state, and a
// body without a valid type is still refused naming the field.
func TestShedFallbackByAgeFollowsFailPolicy(t *testing.T) {
	s := newTestServerWith(t, func(c *Config) { c.QueueBudget, c.ShedWithFallback = 20*time.Millisecond, true })
	send := func(body string) *fasthttp.RequestCtx {
		ctx := decideCtx(body)
		ctx.Request.Header.Set(HeaderRequestStart, staleStamp())
		s.Handle(ctx)
		return ctx
	}
	for body, want := range map[string]string{
		`{"type":"login","user_id":"yan","ip":"216.160.83.56","tenant":"brand-a"}`:                  "allow",
		`{"type":"checkout","user_id":"yan","ip":"216.160.83.56","amount":5,"currency":"EUR"}`:      "step_up",
		`{"type":"password_reset","user_id":"yan","ip":"216.160.83.56","tenant":"brand-b"}`:         "step_up",
		`{"type":"registration","ip":"216.160.83.56","device_id":"x","attributes":{"source":"ad"}}`: "allow",
	} {
		ctx := send(body)
		var d struct {
			Decision     string
			EvaluationID string `json:"evaluation_id"`
			Reasons      []struct{ Code string }
		}
		if err := json.Unmarshal(ctx.Response.Body(), &d); err != nil || ctx.Response.StatusCode() != fasthttp.StatusOK {
			t.Fatalf("%s: %d %s", body, ctx.Response.StatusCode(), ctx.Response.Body())
		}
		if d.Decision != want || len(d.Reasons) != 1 || d.Reasons[0].Code != engine.CodeFailPolicy {
			t.Fatalf("%s: %+v, want %s by the fail policy", body, d, want)
		}
		var ev struct{ Tenant string }
		_ = json.Unmarshal([]byte(body), &ev)
		if ev.Tenant == "" {
			ev.Tenant = defaultTenant
		}
		if !s.engine.EvaluationOf(d.EvaluationID, ev.Tenant) {
			t.Fatalf("%s: evaluation id %s is not one of tenant %s", body, d.EvaluationID, ev.Tenant)
		}
	}
	for body, field := range map[string]string{
		`{"user_id":"yan","ip":"216.160.83.56"}`:                     "type",
		`{"type":"logout","user_id":"yan","ip":"216.160.83.56"}`:     "type",
		`{"type":"login","tenant":"a b","ip":"216.160.83.56"}`:       "tenant",
		`{"type":"login","tenant":7,"user_id":"yan","ip":"1.2.3.4"}`: "tenant",
	} {
		ctx := send(body)
		var e struct{ Error struct{ Field string } }
		if err := json.Unmarshal(ctx.Response.Body(), &e); err != nil || ctx.Response.StatusCode() != fasthttp.StatusBadRequest || e.Error.Field != field {
			t.Fatalf("%s: %d %s, want 400 naming %s", body, ctx.Response.StatusCode(), ctx.Response.Body(), field)
		}
	}
	if got := s.shed.Get(); got != 4 {
		t.Fatalf("riskd_shed_requests_total = %d, want 4", got)
	}
	if hasState(s, "yan") {
		t.Fatal("a fallback decision changed state")
	}
}
