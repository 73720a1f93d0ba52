//go:build !race

package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestDecideHandlerAllocations guards the request path: decoding, deciding, recording and encoding a decision
// for a returning user allocates nothing once pools and tables are warm.
func TestDecideHandlerAllocations(t *testing.T) {
	s := newTestServer(t)
	ts := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	body := []byte(fmt.Sprintf(`{"type":"login","user_id":"kim","ip":"216.160.83.56","device_id":"kim-laptop",`+
		`"user_agent":"Mozilla/5.0","tenant":"brand-a","channel":"web","credentials_valid":true,"timestamp":%q,`+
		`"attributes":{"campaign":"spring"}}`, ts))
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetRequestURI("/v1/decide")
	ctx.Request.SetBody(body)
	serve := func() {
		ctx.Response.Reset()
		s.Handle(&ctx)
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	for range 100 {
		serve()
	}
	if n := testing.AllocsPerRun(1000, serve); n != 0 {
		t.Fatalf("decide handler allocates %.1f times per request, want 0", n)
	}
}

// TestShedAllocations guards the refusal path: past capacity most requests are refused, and a refusal that
// allocated would grow the heap exactly when riskd can least afford it.
func TestShedAllocations(t *testing.T) {
	s := newTestServer(t)
	s.cfg.QueueBudget = 5 * time.Millisecond
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetRequestURI("/v1/decide")
	ctx.Request.SetBody([]byte(`{"type":"login","user_id":"kim","ip":"216.160.83.56"}`))
	stamp := []byte(fmt.Sprint(time.Now().Add(-time.Second).UnixMicro()))
	ctx.Request.Header.SetBytesV("X-Request-Start", stamp)
	serve := func() {
		ctx.Response.Reset()
		s.Handle(&ctx)
		if ctx.Response.StatusCode() != fasthttp.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	for range 100 {
		serve()
	}
	if n := testing.AllocsPerRun(1000, serve); n != 0 {
		t.Fatalf("shedding allocates %.1f times per request, want 0", n)
	}
}
