package server

import (
	"encoding/json"
	"testing"

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
