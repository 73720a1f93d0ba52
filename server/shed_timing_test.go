package server

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkShed is the handler's share of a refusal under overload (the network's share, a read and a write
// per request, is the same for every answer and is not here): a request stamped as queued a second ago against
// a 5 ms queue budget, refused with 503 (reject) or answered with the fail policy's decision (fallback).
//
// On a shared, busy 2-core machine (noisy): before the refusal was decided first and pre-rendered, reject
// 890–1,230 ns/op and fallback 1,780–2,080 ns/op; after, reject 370–545 ns/op (a third of it the clock) and
// fallback 1,030–1,140 ns/op; BenchmarkHandleDecide 8,500–15,500 ns/op in the same runs.
//
// reject-controller is the refusal with the queue controller (--queue-target) picking every request: a random
// draw, no clock and no parse of the stamp.
func BenchmarkShed(b *testing.B) {
	for _, mode := range []string{"reject", "reject-controller", "fallback"} {
		fallback := mode == "fallback"
		want := fasthttp.StatusServiceUnavailable
		if fallback {
			want = fasthttp.StatusOK
		}
		b.Run(mode, func(b *testing.B) {
			s := newTestServerWith(b, func(c *Config) {
				c.QueueBudget, c.ShedWithFallback = 5*time.Millisecond, fallback
				if mode == "reject-controller" {
					c.QueueTarget = 2 * time.Millisecond
				}
			})
			if s.queue != nil {
				s.queue.p.Store(math.Float64bits(1)) // past the cap, so that every request is picked
			}
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(fasthttp.MethodPost)
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.Header.SetHost("127.0.0.1:8080")
			ctx.Request.Header.Set("User-Agent", "identity-server/1.0")
			ctx.Request.Header.Set(HeaderRequestStart, strconv.FormatInt(time.Now().Add(-time.Second).UnixMicro(), 10))
			ctx.Request.SetRequestURI("/v1/decide")
			ctx.Request.SetBodyString(`{"type":"login","user_id":"user-1","ip":"216.160.83.56","device_id":"dev-1",` +
				`"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","credentials_valid":true}`)
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				s.Handle(&ctx)
				if ctx.Response.StatusCode() != want {
					b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
		})
	}
}
