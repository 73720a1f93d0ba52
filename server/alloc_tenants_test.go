//go:build !race

package server

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// TestTenantKeyAllocations guards what tenant-restricted keys add to the request path: the check of an outcome's
// evaluation against the key's tenants, trust marked with a tenant, and a decision reading that mark at another
// tenant allocate nothing.
func TestTenantKeyAllocations(t *testing.T) {
	s := newTestServer(t)
	kr, err := ParseKeyring([]byte(`keys:
  - {name: idp, sha256: ` + HashSecret("rk_idp") + `, scopes: [decide]}
  - {name: brand-a, sha256: ` + HashSecret("rk_brand-a") + `, scopes: [decide], tenants: [brand-x, brand-a]}
  - {name: explainer, sha256: ` + HashSecret("rk_explain") + `, scopes: [decide, explain]}
`))
	if err != nil {
		t.Fatal(err)
	}
	s.keys.Store(kr)
	ts := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	decide := func(tenant string) string {
		return fmt.Sprintf(`{"type":"login","user_id":"kim","ip":"216.160.83.56","device_id":"kim-laptop","tenant":%q,`+
			`"credentials_valid":true,"timestamp":%q}`, tenant, ts)
	}
	var ctx fasthttp.RequestCtx
	serve := func(path, secret, body string) func() {
		return func() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod(fasthttp.MethodPost)
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+secret)
			ctx.Request.SetRequestURI(path)
			ctx.Request.SetBodyString(body)
			s.Handle(&ctx)
			if ctx.Response.StatusCode() != fasthttp.StatusOK {
				t.Fatalf("%s: status %d: %s", path, ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	}
	serve("/v1/decide", "rk_brand-a", decide("brand-a"))()
	id := string(fastjson.GetBytes(ctx.Response.Body(), "evaluation_id"))
	outcome := func(typ string) string {
		return fmt.Sprintf(`{"type":%q,"user_id":"kim","ip":"216.160.83.56","device_id":"kim-laptop","tenant":"brand-a",`+
			`"evaluation_id":%q,"timestamp":%q}`, typ, id, ts)
	}
	for name, f := range map[string]func(){
		"mfa_passed from brand-a":    serve("/v1/events", "rk_brand-a", outcome("mfa_passed")),
		"login_failed from brand-a":  serve("/v1/events", "rk_brand-a", outcome("login_failed")),
		"decide at brand-b, marked":  serve("/v1/decide", "rk_idp", decide("brand-b")),
		"decide at brand-a, its own": serve("/v1/decide", "rk_brand-a", decide("brand-a")),
	} {
		for range 100 {
			f()
		}
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %.1f allocations per request, want 0", name, n)
		}
	}
	// The decisions at brand-b above read the mark: the trust is brand-a's.
	serve("/v1/decide?explain=1", "rk_explain", decide("brand-b"))()
	if !bytes.Contains(ctx.Response.Body(), []byte(`"trusted_by_other_tenant":true`)) {
		t.Fatalf("brand-b's decision does not see brand-a's trust as another tenant's: %s", ctx.Response.Body())
	}
}
