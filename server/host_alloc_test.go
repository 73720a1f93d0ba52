//go:build !race

package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestHostCheckAllocations: without keys every request's Host is checked, the decision path's included, so the
// check must not allocate for the hosts a local caller sends.
func TestHostCheckAllocations(t *testing.T) {
	s := newTestServer(t)
	body := fmt.Sprintf(`{"type":"login","user_id":"kim","ip":"216.160.83.56","device_id":"kim-laptop","credentials_valid":true,"timestamp":%q}`,
		time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	for _, host := range []string{"localhost:8080", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST"} {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(fasthttp.MethodPost)
		ctx.Request.Header.SetContentType("application/json; charset=utf-8")
		ctx.Request.SetRequestURI("/v1/decide")
		ctx.Request.Header.SetHost(host)
		ctx.Request.SetBodyString(body)
		serve := func() {
			ctx.Response.Reset()
			s.Handle(&ctx)
			if ctx.Response.StatusCode() != fasthttp.StatusOK {
				t.Fatalf("Host %q: status %d: %s", host, ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
		for range 100 {
			serve()
		}
		if n := testing.AllocsPerRun(1000, serve); n != 0 {
			t.Fatalf("Host %q: a decision allocates %.1f times, want 0", host, n)
		}
	}
}
