package server

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestAuthenticateRemembersOnlyVerifiedSecrets: a secret is remembered for its key once its hash matched, a
// wrong token never is, and an over-long secret is hashed every time rather than kept.
func TestAuthenticateRemembersOnlyVerifiedSecrets(t *testing.T) {
	long := "rk_" + strings.Repeat("x", maxVerifiedSecret)
	kr, err := ParseKeyring([]byte("keys:\n  - {name: a, sha256: " + HashSecret("rk_a") + ", scopes: [decide]}\n" +
		"  - {name: long, sha256: " + HashSecret(long) + ", scopes: [decide]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	auth := func(token string) *Key {
		var h fasthttp.RequestHeader
		h.Set(fasthttp.HeaderAuthorization, "Bearer "+token)
		return kr.authenticate(&h)
	}
	if auth("rk_b") != nil || kr.verified[0].Load() != nil || kr.verified[1].Load() != nil {
		t.Fatal("a wrong token authenticated or was remembered")
	}
	for range 2 {
		if k := auth("rk_a"); k == nil || k.Name != "a" {
			t.Fatalf("rk_a authenticated as %v", k)
		}
		if k := auth(long); k == nil || k.Name != "long" {
			t.Fatalf("the long secret authenticated as %v", k)
		}
	}
	if v := kr.verified[0].Load(); v == nil || string(*v) != "rk_a" {
		t.Fatalf("remembered for a: %v", v)
	}
	if kr.verified[1].Load() != nil {
		t.Fatal("an over-long secret was remembered")
	}
}
