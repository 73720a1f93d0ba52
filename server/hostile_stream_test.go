package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/riskd/riskd/livestream"
	"github.com/riskd/riskd/server"
)

const (
	secretReader      = "rk_reader-secret-for-tests-only"
	secretBrandReader = "rk_brand-a-reader-secret-for-tests-only"
	secretScrape      = "rk_scrape-secret-for-tests-only"
)

// streamKeyring is testKeyring's keys and the console's: a read key of every tenant, one of brand-a only, and
// a metrics scraper's.
func streamKeyring(t *testing.T) *server.Keyring {
	t.Helper()
	kr, err := server.ParseKeyring([]byte(`keys:
  - {name: idp, sha256: ` + server.HashSecret(secretIdP) + `, scopes: [decide]}
  - {name: analyst, sha256: ` + server.HashSecret(secretAdmin) + `, scopes: [admin]}
  - {name: brand-a-admin, sha256: ` + server.HashSecret(secretBrandAd) + `, scopes: [admin], tenants: [brand-a]}
  - {name: reader, sha256: ` + server.HashSecret(secretReader) + `, scopes: [read]}
  - {name: brand-a-reader, sha256: ` + server.HashSecret(secretBrandReader) + `, scopes: [read], tenants: [brand-a]}
  - {name: scraper, sha256: ` + server.HashSecret(secretScrape) + `, scopes: [metrics]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestHostileStream sends the decision stream and the stats what a broken client or an attacker would: bad
// filters, unknown and repeated parameters, the wrong method, no key, keys of the wrong scope or of one tenant,
// and more viewers than it serves. Each is refused with a JSON error naming the field, the right status, and
// no viewer left behind; keys of the admin and read scopes are served.
func TestHostileStream(t *testing.T) {
	ts, eng := startStreaming(t, livestream.Config{MaxViewers: 2}, func(c *server.Config) { c.Keys = streamKeyring(t) })
	cases := []struct {
		name, bearer, method, path string
		status                     int
		code, field                string
	}{
		{"no key", "", "GET", "/v1/decisions/stream", 401, "unauthenticated", ""},
		{"an unknown key", "rk_guess", "GET", "/v1/decisions/stream", 401, "unauthenticated", ""},
		{"a decide key", secretIdP, "GET", "/v1/decisions/stream", 403, "forbidden", ""},
		{"a metrics key", secretScrape, "GET", "/v1/decisions/stream", 403, "forbidden", ""},
		{"an admin key of one tenant", secretBrandAd, "GET", "/v1/decisions/stream", 403, "forbidden", ""},
		{"a read key of one tenant", secretBrandReader, "GET", "/v1/decisions/stream?tenant=brand-a", 403, "forbidden", ""},
		{"a POST", secretReader, "POST", "/v1/decisions/stream", 405, "method_not_allowed", ""},
		{"an unknown decision", secretReader, "GET", "/v1/decisions/stream?decision=maybe", 400, "invalid_filter", "decision"},
		{"a decision in capitals", secretReader, "GET", "/v1/decisions/stream?decision=DENY", 400, "invalid_filter", "decision"},
		{"an unknown event", secretReader, "GET", "/v1/decisions/stream?event=logon", 400, "invalid_filter", "event"},
		{"a tenant with a slash", secretReader, "GET", "/v1/decisions/stream?tenant=a%2Fb", 400, "invalid_filter", "tenant"},
		{"a tenant with a newline", secretReader, "GET", "/v1/decisions/stream?tenant=a%0Ab", 400, "invalid_filter", "tenant"},
		{"a tenant too long", secretReader, "GET", "/v1/decisions/stream?tenant=" + strings.Repeat("t", 65), 400, "invalid_filter", "tenant"},
		{"a rule in capitals", secretReader, "GET", "/v1/decisions/stream?rule=Tor", 400, "invalid_filter", "rule"},
		{"a rule with a quote", secretReader, "GET", "/v1/decisions/stream?rule=tor%22", 400, "invalid_filter", "rule"},
		{"a rule too long", secretReader, "GET", "/v1/decisions/stream?rule=" + strings.Repeat("r", 65), 400, "invalid_filter", "rule"},
		{"a rule not UTF-8", secretReader, "GET", "/v1/decisions/stream?rule=%FF", 400, "invalid_filter", "rule"},
		{"a misspelt filter", secretReader, "GET", "/v1/decisions/stream?decison=deny", 400, "unknown_parameter", "decison"},
		{"an unknown empty parameter", secretReader, "GET", "/v1/decisions/stream?x=", 400, "unknown_parameter", "x"},
		{"a filter given twice", secretReader, "GET", "/v1/decisions/stream?decision=deny&decision=allow", 400, "invalid_filter", "decision"},
		{"stats without a key", "", "GET", "/v1/stats", 401, "unauthenticated", ""},
		{"stats with a decide key", secretIdP, "GET", "/v1/stats", 403, "forbidden", ""},
		{"stats with a read key of one tenant", secretBrandReader, "GET", "/v1/stats", 403, "forbidden", ""},
		{"stats by POST", secretReader, "POST", "/v1/stats", 405, "method_not_allowed", ""},
		// A read key changes nothing.
		{"a read key putting rules", secretReader, "PUT", "/v1/rules", 403, "forbidden", ""},
		{"a read key rolling back", secretReader, "POST", "/v1/control/rules/rollback", 403, "forbidden", ""},
		{"a read key erasing a user", secretReader, "DELETE", "/v1/users/kim", 403, "forbidden", ""},
		{"a read key deciding", secretReader, "POST", "/v1/decide", 403, "forbidden", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts.bearer = c.bearer
			status, m := ts.do(c.method, c.path, "application/json", nil)
			e, _ := m["error"].(map[string]any)
			if status != c.status || errorCode(m) != c.code || (c.field != "" && e["field"] != c.field) {
				t.Fatalf("%d %v, want %d %s naming %q", status, m, c.status, c.code, c.field)
			}
			if eng.Stream().Viewers() != 0 {
				t.Fatalf("a refused request left %d viewers", eng.Stream().Viewers())
			}
		})
	}

	// Keys of the admin and the read scope are served; past the bound, a third viewer is refused with 429.
	ts.bearer = secretReader
	if status, m := ts.do("GET", "/v1/stats", "", nil); status != 200 || m["interval_s"] != 10.0 {
		t.Fatalf("stats with a read key: %d %v", status, m)
	}
	a := openStream(t, ts.base, "decision=deny", secretReader)
	b := openStream(t, ts.base, "", secretAdmin)
	if a.resp.StatusCode != 200 || b.resp.StatusCode != 200 {
		t.Fatalf("read key: %d, admin key: %d", a.resp.StatusCode, b.resp.StatusCode)
	}
	c := openStream(t, ts.base, "", secretAdmin)
	raw, _ := io.ReadAll(c.resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	if c.resp.StatusCode != http.StatusTooManyRequests || errorCode(m) != "too_many_viewers" || c.resp.Header.Get("Retry-After") == "" ||
		c.resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("a third viewer: %d %s %v", c.resp.StatusCode, raw, c.resp.Header)
	}
	if eng.Stream().Viewers() != 2 {
		t.Fatalf("%d viewers, want 2", eng.Stream().Viewers())
	}
	// The contract documents the refusal.
	ts.bearer = secretAdmin
	if status, m := ts.do("GET", "/v1/decisions/stream", "", nil); status != 429 {
		t.Fatalf("a third viewer through the contract check: %d %v", status, m)
	}
}
