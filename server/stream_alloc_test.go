//go:build !race

package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/livestream"
)

// TestDecideHandlerAllocationsWithViewer: with a viewer of the decision stream connected, the decide handler
// still allocates nothing. The viewer never reads: once its queue is full the fan-out drops without rendering,
// so nothing else allocates while the requests are counted, and the drops show the decisions reached it.
func TestDecideHandlerAllocationsWithViewer(t *testing.T) {
	s := newTestServer(t)
	hub := s.engine.Stream()
	v, err := hub.Subscribe(livestream.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Unsubscribe(v)
	ts := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	body := fmt.Sprintf(`{"type":"login","user_id":"kim","ip":"216.160.83.56","device_id":"kim-laptop",`+
		`"user_agent":"Mozilla/5.0","tenant":"brand-a","channel":"web","credentials_valid":true,"timestamp":%q}`, ts)
	for hub.Dropped() == 0 { // fill the queue (the default is 256 messages, at 500 a second)
		checkDecideAllocationsWarm(t, s, body, 300)
		time.Sleep(10 * time.Millisecond)
	}
	before := hub.Dropped()
	checkDecideAllocations(t, s, body, "", fasthttp.StatusOK)
	deadline := time.Now().Add(5 * time.Second)
	for hub.Dropped() < before+1000 {
		if time.Now().After(deadline) {
			t.Fatalf("the viewer lost %d of the measured decisions, want all", hub.Dropped()-before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkDecideAllocationsWarm posts body to /v1/decide n times.
func checkDecideAllocationsWarm(t *testing.T, s *Server, body string, n int) {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetRequestURI("/v1/decide")
	ctx.Request.SetBodyString(body)
	for range n {
		ctx.Response.Reset()
		s.Handle(&ctx)
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}
