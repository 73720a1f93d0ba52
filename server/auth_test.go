package server_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/riskd/riskd/server"
)

const (
	secretIdP     = "rk_idp-secret-for-tests-only"
	secretBrandA  = "rk_brand-a-secret-for-tests-only"
	secretAdmin   = "rk_admin-secret-for-tests-only"
	secretBrandAd = "rk_brand-a-admin-secret-for-tests-only"
)

func testKeyring(t *testing.T) *server.Keyring {
	t.Helper()
	kr, err := server.ParseKeyring([]byte(`keys:
  - {name: idp, sha256: ` + server.HashSecret(secretIdP) + `, scopes: [decide]}
  - {name: brand-a-idp, sha256: ` + server.HashSecret(secretBrandA) + `, scopes: [decide], tenants: [brand-a]}
  - {name: analyst, sha256: ` + server.HashSecret(secretAdmin) + `, scopes: [admin]}
  - {name: brand-a-admin, sha256: ` + server.HashSecret(secretBrandAd) + `, scopes: [admin], tenants: [brand-a]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func errorCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestAPIKeysScopesAndTenants(t *testing.T) {
	var audit bytes.Buffer
	ts := startWith(t, func(c *server.Config) {
		c.Keys = testKeyring(t)
		c.Auditor = server.NewAuditor(&audit)
	})
	ev := login("ola", ipMilton, "ola-laptop", base())
	ev["tenant"] = "brand-b"

	cases := []struct {
		name, bearer, method, path string
		body                       any
		status                     int
		code                       string
	}{
		{"no key", "", "POST", "/v1/decide", ev, 401, "unauthenticated"},
		{"unknown key", "rk_guess", "POST", "/v1/decide", ev, 401, "unauthenticated"},
		{"decide key decides", secretIdP, "POST", "/v1/decide", ev, 200, ""},
		{"tenant key, other tenant", secretBrandA, "POST", "/v1/decide", ev, 403, "forbidden_tenant"},
		{"decide key on users", secretIdP, "GET", "/v1/users/ola", nil, 403, "forbidden"},
		{"admin key on decide", secretAdmin, "POST", "/v1/decide", ev, 403, "forbidden"},
		{"admin key exports", secretAdmin, "GET", "/v1/users/ola", nil, 200, ""},
		{"tenant admin key on shared users", secretBrandAd, "DELETE", "/v1/users/ola", nil, 403, "forbidden"},
		{"admin key on rules", secretAdmin, "GET", "/v1/rules", nil, 200, ""},
		{"health needs no key", "", "GET", "/healthz", nil, 200, ""},
	}
	for _, c := range cases {
		ts.bearer = c.bearer
		var status int
		var m map[string]any
		if c.body != nil {
			status, m = ts.post(c.path, c.body)
		} else {
			status, m = ts.do(c.method, c.path, "", nil)
		}
		if status != c.status || errorCode(m) != c.code {
			t.Errorf("%s: %d %v, want %d %q", c.name, status, m, c.status, c.code)
		}
	}

	ts.bearer = secretBrandA
	ev["tenant"] = "brand-a"
	if status, m := ts.post("/v1/decide", ev); status != 200 {
		t.Fatalf("tenant key on its tenant: %d %v", status, m)
	}

	// An erasure is audited with who did it, and without the user id in clear.
	ts.bearer = secretAdmin
	if status, _ := ts.do(http.MethodDelete, "/v1/users/ola", "", nil); status != 204 {
		t.Fatalf("erase: %d", status)
	}
	log := audit.String()
	if !strings.Contains(log, `"who":"analyst"`) || !strings.Contains(log, `"action":"user.erase"`) {
		t.Fatalf("audit log lacks the erasure: %s", log)
	}
	if strings.Contains(log, "ola") {
		t.Fatalf("audit log holds the user id in clear: %s", log)
	}
}

func TestUnauthenticatedAnswerNamesTheScheme(t *testing.T) {
	ts := startWith(t, func(c *server.Config) { c.Keys = testKeyring(t) })
	resp, err := http.Post(ts.base+"/v1/decide", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

func TestSeparateAdminListener(t *testing.T) {
	ts := startWith(t, func(c *server.Config) { c.SeparateAdmin = true })
	if status, _ := ts.do(http.MethodGet, "/v1/rules", "", nil); status != 404 {
		t.Fatalf("admin endpoint on the main listener: %d", status)
	}
	if status, _ := ts.do(http.MethodGet, ts.adminBase+"/v1/rules", "", nil); status != 200 {
		t.Fatalf("admin endpoint on the admin listener: %d", status)
	}
	if status, _ := ts.post(ts.adminBase+"/v1/decide", login("pia", ipMilton, "d", base())); status != 404 {
		t.Fatalf("decide on the admin listener: %d", status)
	}
	if d := ts.decide(login("pia", ipMilton, "d", base())); d.Decision != "allow" {
		t.Fatalf("decide on the main listener: %+v", d)
	}
}

func TestKeyringRefusesBadEntries(t *testing.T) {
	h := server.HashSecret("x")
	for name, src := range map[string]string{
		"bad hash":    "keys:\n  - {name: a, sha256: abc, scopes: [decide]}\n",
		"no scope":    "keys:\n  - {name: a, sha256: " + h + "}\n",
		"bad scope":   "keys:\n  - {name: a, sha256: " + h + ", scopes: [root]}\n",
		"no name":     "keys:\n  - {sha256: " + h + ", scopes: [decide]}\n",
		"dup name":    "keys:\n  - {name: a, sha256: " + h + ", scopes: [decide]}\n  - {name: a, sha256: " + h + ", scopes: [admin]}\n",
		"unknown key": "keys:\n  - {name: a, sha256: " + h + ", scopes: [decide], scope: admin}\n",
		"bad tenant":  "keys:\n  - {name: a, sha256: " + h + ", scopes: [decide], tenants: ['a b']}\n",
	} {
		if _, err := server.ParseKeyring([]byte(src)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
