package server_test

import (
	"testing"

	"github.com/riskd/riskd/server"
)

// TestVerifiedSecretsKeepKeySemantics drives requests over loopback through the keyring's remembered secrets (a
// key's second request is not hashed): a reload that revokes a key or changes its scopes or tenants applies to
// the very next request, and a token that only resembles a remembered secret is refused.
func TestVerifiedSecretsKeepKeySemantics(t *testing.T) {
	ts := startWith(t, func(c *server.Config) { c.Keys = testKeyring(t) })
	ev := login("ola", ipMilton, "ola-laptop", base())
	decide := func(bearer, tenant string) (int, string) {
		t.Helper()
		ts.bearer = bearer
		ev["tenant"] = tenant
		status, m := ts.post("/v1/decide", ev)
		return status, errorCode(m)
	}
	for range 3 { // the first verifies by hash, the next ones by the remembered secret
		if status, code := decide(secretIdP, "brand-b"); status != 200 {
			t.Fatalf("idp key: %d %s", status, code)
		}
		if status, code := decide(secretBrandA, "brand-a"); status != 200 {
			t.Fatalf("brand-a key on its tenant: %d %s", status, code)
		}
		if status, code := decide(secretBrandA, "brand-b"); status != 403 || code != "forbidden_tenant" {
			t.Fatalf("brand-a key on another tenant: %d %s", status, code)
		}
	}
	for _, guess := range []string{secretIdP + "x", secretIdP[:len(secretIdP)-1], "X" + secretIdP[1:], secretIdP + secretIdP} {
		if status, code := decide(guess, "brand-b"); status != 401 || code != "unauthenticated" {
			t.Fatalf("token %q resembling a verified secret: %d %s", guess, status, code)
		}
	}

	// The idp key loses decide for admin; brand-a is revoked.
	kr, err := server.ParseKeyring([]byte(`keys:
  - {name: idp, sha256: ` + server.HashSecret(secretIdP) + `, scopes: [admin]}
  - {name: analyst, sha256: ` + server.HashSecret(secretAdmin) + `, scopes: [admin]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.SetKeys(kr); err != nil {
		t.Fatal(err)
	}
	if status, code := decide(secretBrandA, "brand-a"); status != 401 || code != "unauthenticated" {
		t.Fatalf("revoked key: %d %s", status, code)
	}
	if status, code := decide(secretIdP, "brand-b"); status != 403 || code != "forbidden" {
		t.Fatalf("key whose decide scope was withdrawn: %d %s", status, code)
	}
}
