package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/riskd/riskd/server"
)

// consoleRequest sends a request with an optional session cookie and CSRF token, and decodes a JSON answer.
func consoleRequest(t *testing.T, base, method, path, contentType, body, cookie, csrf string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if cookie != "" {
		req.Header.Set("Cookie", "riskd_session="+cookie)
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if bytes.HasPrefix(raw, []byte("{")) {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp, m
}

func consoleSignIn(t *testing.T, base, secret string) (cookie, csrf string) {
	t.Helper()
	resp, m := consoleRequest(t, base, "POST", "/console/api/session", "application/json", `{"key":"`+secret+`"}`, "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("sign in: %d %v", resp.StatusCode, m)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "riskd_session" {
			cookie = c.Value
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || c.MaxAge <= 0 {
				t.Fatalf("session cookie: %+v", c)
			}
		}
	}
	csrf, _ = m["csrf_token"].(string)
	if cookie == "" || len(csrf) < 40 {
		t.Fatalf("sign in answered %v with cookies %v", m, resp.Cookies())
	}
	return cookie, csrf
}

// TestHostileConsoleSignIn: only a JSON body with a key of the admin or read scope signs in; every refusal is a
// JSON error naming the field, and no cookie is set.
func TestHostileConsoleSignIn(t *testing.T) {
	ts := startWith(t, func(c *server.Config) { c.Keys = consoleKeyring(t) })
	for _, c := range []struct {
		name, ct, body string
		status         int
		code           string
	}{
		{"a form", "application/x-www-form-urlencoded", "key=" + secretConsoleAdmin, 415, "unsupported_media_type"},
		{"text/plain", "text/plain", `{"key":"` + secretConsoleAdmin + `"}`, 415, "unsupported_media_type"},
		{"no key", "application/json", `{}`, 400, "missing_key"},
		{"unknown field", "application/json", `{"key":"x","scope":"admin"}`, 400, "invalid_json"},
		{"unknown key", "application/json", `{"key":"rk_guess"}`, 401, "unauthenticated"},
		{"a decide key", "application/json", `{"key":"` + secretConsoleIdP + `"}`, 403, "forbidden"},
	} {
		resp, m := consoleRequest(t, ts.base, "POST", "/console/api/session", c.ct, c.body, "", "")
		if resp.StatusCode != c.status || errorCode(m) != c.code || len(resp.Cookies()) != 0 {
			t.Errorf("%s: %d %v, cookies %v", c.name, resp.StatusCode, m, resp.Cookies())
		}
	}
	if resp, _ := consoleRequest(t, ts.base, "GET", "/console/api/session", "", "", "forged-session-id", ""); resp.StatusCode != 401 {
		t.Fatalf("a forged cookie: %d", resp.StatusCode)
	}
}

// TestHostileConsoleCookie: the session cookie authenticates the admin API only, a change only with the
// session's CSRF token, and nothing once signed out or once its key leaves the keyring.
func TestHostileConsoleCookie(t *testing.T) {
	ts := startWith(t, func(c *server.Config) { c.Keys = consoleKeyring(t) })
	cookie, csrf := consoleSignIn(t, ts.base, secretConsoleAdmin)
	rules := "version: c-1\nthresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: tor, when: is_tor, score: 60}\n"
	ev := `{"type":"login","user_id":"u","ip":"81.2.69.142"}`
	for _, c := range []struct {
		name, method, path, ct, body, csrf string
		status                             int
		code                               string
	}{
		{"decide takes no cookie", "POST", "/v1/decide", "application/json", ev, csrf, 401, "unauthenticated"},
		{"events take no cookie", "POST", "/v1/events", "application/json", `{"type":"login_failed","user_id":"u","ip":"81.2.69.142"}`, csrf, 401, "unauthenticated"},
		{"a change without the token", "PUT", "/v1/rules", "application/yaml", rules, "", 403, "csrf_token"},
		{"a change with another token", "PUT", "/v1/rules", "application/yaml", rules, strings.Repeat("A", len(csrf)), 403, "csrf_token"},
		{"a prefix of the token", "PUT", "/v1/rules", "application/yaml", rules, csrf[:len(csrf)-1], 403, "csrf_token"},
		{"an erasure without the token", "DELETE", "/v1/users/u", "", "", "", 403, "csrf_token"},
		{"a validation without the token", "POST", "/v1/rules/validate", "application/yaml", rules, "", 403, "csrf_token"},
		{"a read needs no token", "GET", "/v1/rules", "", "", "", 200, ""},
		{"a change with the token", "PUT", "/v1/rules?note=console", "application/yaml", rules, csrf, 200, ""},
	} {
		resp, m := consoleRequest(t, ts.base, c.method, c.path, c.ct, c.body, cookie, c.csrf)
		if resp.StatusCode != c.status || errorCode(m) != c.code {
			t.Errorf("%s: %d %v", c.name, resp.StatusCode, m)
		}
	}
	// A session has its key's body limit: the shipped rule set (18 KiB) is more than a decision may send.
	shipped, err := os.ReadFile("../rules/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if resp, m := consoleRequest(t, ts.base, "POST", "/v1/rules/validate", "application/yaml", string(shipped), cookie, csrf); resp.StatusCode != 200 {
		t.Fatalf("validate the shipped set with the session: %d %v", resp.StatusCode, m)
	}
	// The audit names the key behind the session.
	resp, m := consoleRequest(t, ts.base, "GET", "/v1/audit?limit=5", "", "", cookie, "")
	if recs, _ := m["records"].([]any); resp.StatusCode != 200 || len(recs) == 0 || recs[0].(map[string]any)["who"] != "analyst" {
		t.Fatalf("audit: %d %v", resp.StatusCode, m)
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x"} {
		if resp, m := consoleRequest(t, ts.base, "GET", "/v1/audit?"+q, "", "", cookie, ""); resp.StatusCode != 400 || errorCode(m) != "invalid_limit" {
			t.Errorf("audit %s: %d %v", q, resp.StatusCode, m)
		}
	}

	// Signing out takes the token too, then the cookie is worth nothing.
	if resp, m := consoleRequest(t, ts.base, "DELETE", "/console/api/session", "", "", cookie, ""); resp.StatusCode != 403 || errorCode(m) != "csrf_token" {
		t.Fatalf("sign out without the token: %d %v", resp.StatusCode, m)
	}
	if resp, _ := consoleRequest(t, ts.base, "DELETE", "/console/api/session", "", "", cookie, csrf); resp.StatusCode != 204 {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	if resp, _ := consoleRequest(t, ts.base, "GET", "/v1/rules", "", "", cookie, ""); resp.StatusCode != 401 {
		t.Fatalf("after sign-out: %d", resp.StatusCode)
	}

	// A key removed from the keyring ends its sessions.
	cookie, _ = consoleSignIn(t, ts.base, secretConsoleAdmin)
	kr, err := server.ParseKeyring([]byte("keys:\n  - {name: other, sha256: " + server.HashSecret("rk_other-secret") + ", scopes: [admin]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.SetKeys(kr); err != nil {
		t.Fatal(err)
	}
	if resp, _ := consoleRequest(t, ts.base, "GET", "/v1/rules", "", "", cookie, ""); resp.StatusCode != 401 {
		t.Fatalf("the session of a removed key: %d", resp.StatusCode)
	}
}

// TestHostileConsoleReadScope: a read key, by bearer or by session, reads everything and changes nothing.
func TestHostileConsoleReadScope(t *testing.T) {
	ts := startWithLog(t)
	ts.srv.SetKeys(consoleKeyring(t))
	cookie, csrf := consoleSignIn(t, ts.base, secretConsoleRead)
	rules := "version: r-1\nthresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: tor, when: is_tor, score: 60}\n"
	for _, c := range []struct {
		method, path, ct, body string
		status                 int
	}{
		{"GET", "/v1/rules", "", "", 200},
		{"GET", "/v1/control", "", "", 200},
		{"GET", "/v1/control/rules/versions", "", "", 200},
		{"GET", "/v1/exceptions", "", "", 404}, // this server runs without lists: read, and found nothing
		{"GET", "/v1/users/someone", "", "", 404},
		{"GET", "/v1/audit", "", "", 200},
		{"POST", "/v1/rules/validate", "application/yaml", rules, 200},
		{"PUT", "/v1/rules", "application/yaml", rules, 403},
		{"PUT", "/v1/rules/shadow", "application/yaml", rules, 403},
		{"DELETE", "/v1/rules/shadow", "", "", 403},
		{"POST", "/v1/control/rules/rollback", "application/json", `{"version":1}`, 403},
		{"PUT", "/v1/users/someone/preferences", "application/json", `{"mfa_preference":"always"}`, 403},
		{"DELETE", "/v1/users/someone", "", "", 403},
		{"PUT", "/v1/lists/x", "application/json", `{"kind":"ip","entries":[]}`, 403},
		{"POST", "/v1/rules/%76alidate", "application/yaml", rules, 403}, // an escaped spelling is not read as validate
		{"PATCH", "/v1/rules", "application/yaml", rules, 403},
	} {
		resp, m := consoleRequest(t, ts.base, c.method, c.path, c.ct, c.body, cookie, csrf)
		if resp.StatusCode != c.status {
			t.Errorf("read session, %s %s: %d %v, want %d", c.method, c.path, resp.StatusCode, m, c.status)
		}
		if c.status == 403 && errorCode(m) != "forbidden" {
			t.Errorf("read session, %s %s: %v", c.method, c.path, m)
		}
		ts.bearer = secretConsoleRead
		if status, m := ts.do(c.method, c.path, c.ct, []byte(c.body)); status != c.status {
			t.Errorf("read key, %s %s: %d %v, want %d", c.method, c.path, status, m, c.status)
		}
		ts.bearer = ""
	}
}

// TestHostileConsoleAssets: the console serves its embedded files only, each with the headers that keep
// another page from framing it or running anything but its own scripts.
func TestHostileConsoleAssets(t *testing.T) {
	ts := startWith(t, func(c *server.Config) { c.Keys = consoleKeyring(t) })
	for _, c := range []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/console/", 200, "text/html; charset=utf-8"},
		{"GET", "/console/app.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/console/console.css", 200, "text/css; charset=utf-8"},
		{"GET", "/console", 301, ""},
		{"GET", "/console/../v1/rules", 404, ""},
		{"GET", "/console/%2e%2e/%2e%2e/etc/passwd", 404, ""},
		{"GET", "/console//app.js", 404, ""},
		{"GET", "/console/missing.js", 404, ""},
		{"POST", "/console/app.js", 405, ""},
	} {
		resp, _ := consoleRequest(t, ts.base, c.method, c.path, "", "", "", "")
		h := resp.Header
		if resp.StatusCode != c.status || (c.ctype != "" && h.Get("Content-Type") != c.ctype) {
			t.Errorf("%s %s: %d %q", c.method, c.path, resp.StatusCode, h.Get("Content-Type"))
		}
		csp := h.Get("Content-Security-Policy")
		if c.status == 200 && (!strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") ||
			!strings.Contains(csp, "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff") {
			t.Errorf("%s: headers %v", c.path, h)
		}
	}
	// The page loads no script of its own text: every script is a file.
	_, _ = consoleRequest(t, ts.base, "GET", "/console/", "", "", "", "")
	req, _ := http.NewRequest("GET", ts.base+"/console/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(page, []byte("<script>")) || bytes.Contains(page, []byte(" style=")) || bytes.Contains(page, []byte(" onclick=")) {
		t.Fatal("the console's page holds inline script or style")
	}
}
