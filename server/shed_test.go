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
