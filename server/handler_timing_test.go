package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkHandleDecide is the whole request path without the network: route, decode, decide, record, encode,
// for a population of returning users.
func BenchmarkHandleDecide(b *testing.B) { benchmarkHandleDecide(b, "") }

// BenchmarkHandleDecideKeyed is BenchmarkHandleDecide with API keys, as riskd serves off loopback: the request's
// bearer token is authenticated against a keyring of a few keys.
func BenchmarkHandleDecideKeyed(b *testing.B) {
	benchmarkHandleDecide(b, "rk_idp-7Hc2kq9T3vXw5ZbN1mLpR8sYdF4gJ0aU")
}

// benchmarkHandleDecide runs the decide path, with requests carrying secret as their bearer token when it is
// not empty.
func benchmarkHandleDecide(b *testing.B, secret string) {
	s := newTestServer(b)
	if secret != "" {
		s.keys.Store(benchKeyring(b, secret))
	}
	ts := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	ips := []string{"216.160.83.56", "89.160.20.112", "2.125.160.216", "175.16.199.1"}
	const users = 1000
	ctxs := make([]fasthttp.RequestCtx, users)
	for i := range ctxs {
		c := &ctxs[i]
		c.Request.Header.SetMethod(fasthttp.MethodPost)
		c.Request.Header.SetContentType("application/json")
		c.Request.SetRequestURI("/v1/decide")
		if secret != "" {
			c.Request.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+secret)
		}
		c.Request.SetBody(fmt.Appendf(nil, `{"type":"login","user_id":"user-%d","ip":%q,"device_id":"dev-%d",`+
			`"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","credentials_valid":true,"timestamp":%q}`, i, ips[i%len(ips)], i, ts))
		s.Handle(c)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := &ctxs[i%users]
		c.Response.Reset()
		s.Handle(c)
		if c.Response.StatusCode() != fasthttp.StatusOK {
			b.Fatalf("status %d: %s", c.Response.StatusCode(), c.Response.Body())
		}
	}
}
