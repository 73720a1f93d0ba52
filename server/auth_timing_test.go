package server

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkAuthenticate is the API key check every decide and events request makes, against a keyring of four
// keys, the request's being the last.
func BenchmarkAuthenticate(b *testing.B) {
	const secret = "rk_idp-7Hc2kq9T3vXw5ZbN1mLpR8sYdF4gJ0aU"
	kr := benchKeyring(b, secret)
	var h fasthttp.RequestHeader
	h.Set(fasthttp.HeaderAuthorization, "Bearer "+secret)
	b.ReportAllocs()
	for b.Loop() {
		if kr.authenticate(&h) == nil {
			b.Fatal("not authenticated")
		}
	}
}

// benchKeyring is a keyring of four keys whose last, a decide key, has secret: a request's key is found after
// the others', as behind an instance serving a few callers.
func benchKeyring(b *testing.B, secret string) *Keyring {
	kr, err := ParseKeyring([]byte(`keys:
  - {name: admin, sha256: ` + HashSecret("rk_admin-secret") + `, scopes: [admin]}
  - {name: brand-a, sha256: ` + HashSecret("rk_brand-a-secret") + `, scopes: [decide], tenants: [brand-a]}
  - {name: metrics, sha256: ` + HashSecret("rk_metrics-secret") + `, scopes: [metrics]}
  - {name: idp, sha256: ` + HashSecret(secret) + `, scopes: [decide]}
`))
	if err != nil {
		b.Fatal(err)
	}
	return kr
}
