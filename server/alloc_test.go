//go:build !race

package server

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestDecideHandlerAllocations guards the request path: decoding, deciding, recording and encoding a decision
// for a returning user allocates nothing once pools and tables are warm.
func TestDecideHandlerAllocations(t *testing.T) {
	ts := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	body := fmt.Sprintf(`{"type":"login","user_id":"kim","ip":"216.160.83.56","device_id":"kim-laptop",`+
		`"user_agent":"Mozilla/5.0","tenant":"brand-a","channel":"web","credentials_valid":true,"timestamp":%q,`+
		`"attributes":{"campaign":"spring"}}`, ts)
	checkDecideAllocations(t, newTestServer(t), body, "", fasthttp.StatusOK)
}

// TestShedAllocations guards the refusal path: past capacity most requests are refused, and a refusal that
// allocated would grow the heap exactly when riskd can least afford it.
func TestShedAllocations(t *testing.T) {
	s := newTestServer(t)
	s.cfg.QueueBudget = 5 * time.Millisecond
	stale := fmt.Sprint(time.Now().Add(-time.Second).UnixMicro())
	checkDecideAllocations(t, s, `{"type":"login","user_id":"kim","ip":"216.160.83.56"}`, stale, fasthttp.StatusServiceUnavailable)
}

// checkDecideAllocations posts body to /v1/decide (stamped with X-Request-Start when requestStart is not
// empty) until pools and tables are warm, then fails if an answer is not status or allocates.
func checkDecideAllocations(t *testing.T, s *Server, body, requestStart string, status int) {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetRequestURI("/v1/decide")
	ctx.Request.SetBodyString(body)
	if requestStart != "" {
		ctx.Request.Header.Set("X-Request-Start", requestStart)
	}
	serve := func() {
		ctx.Response.Reset()
		s.Handle(&ctx)
		if ctx.Response.StatusCode() != status {
			t.Fatalf("status %d, want %d: %s", ctx.Response.StatusCode(), status, ctx.Response.Body())
		}
	}
	for range 100 {
		serve()
	}
	if n := testing.AllocsPerRun(1000, serve); n != 0 {
		t.Fatalf("%d answers allocate %.1f times per request, want 0", status, n)
	}
}

// TestShedFallbackAllocations guards --shed fallback's refusal: the fail policy's decision allocates nothing.
func TestShedFallbackAllocations(t *testing.T) {
	s := newTestServerWith(t, func(c *Config) { c.QueueBudget, c.ShedWithFallback = 5*time.Millisecond, true })
	stale := fmt.Sprint(time.Now().Add(-time.Second).UnixMicro())
	checkDecideAllocations(t, s, `{"type":"login","user_id":"kim","ip":"216.160.83.56","tenant":"brand-a"}`, stale, fasthttp.StatusOK)
}

// TestQueueTargetAllocations guards the queue controller on the refusal path: it sees every stamped age.
func TestQueueTargetAllocations(t *testing.T) {
	s := newTestServerWith(t, func(c *Config) { c.QueueBudget, c.QueueTarget = 5*time.Millisecond, 2*time.Millisecond })
	s.queue.p.Store(math.Float64bits(1)) // past any probability the controller reaches, so that every request is shed
	stale := fmt.Sprint(time.Now().Add(-time.Second).UnixMicro())
	checkDecideAllocations(t, s, `{"type":"login","user_id":"kim","ip":"216.160.83.56"}`, stale, fasthttp.StatusServiceUnavailable)
}

// TestQueueTargetObservingAllocations guards the controller on the answering path: an admitted request's wait
// is observed without allocating.
func TestQueueTargetObservingAllocations(t *testing.T) {
	s := newTestServerWith(t, func(c *Config) { c.QueueBudget, c.QueueTarget = 10*time.Second, 5*time.Second })
	ts := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	body := fmt.Sprintf(`{"type":"login","user_id":"kim","ip":"216.160.83.56","device_id":"kim-laptop","credentials_valid":true,"timestamp":%q}`, ts)
	checkDecideAllocations(t, s, body, fmt.Sprint(time.Now().UnixMicro()), fasthttp.StatusOK)
	if s.queue.probability() != 0 {
		t.Fatal("waits under the target raised the shed probability")
	}
}
