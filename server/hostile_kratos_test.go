package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/riskd/riskd/server"
)

// TestHostileKratosBodies: every malformed hook body is refused with 400 naming the field, and none of them
// leaves a step-up mark (no partial state).
func TestHostileKratosBodies(t *testing.T) {
	ts := startKratos(t, nil)
	const who = "9f8c3a52-1b0e-4d55-8f0e-6c1a7e2b00ff"
	tor := `"request_headers":{"True-Client-Ip":["` + ipTor + `"]}`
	after := `"identity":{"id":"` + who + `"},"session":{"authenticator_assurance_level":"aal1"}`
	cases := []struct {
		name, hook, body, code, field string
	}{
		{"empty", "login/after", ``, "invalid_json", ""},
		{"not JSON", "login/after", `{"flow":`, "invalid_json", ""},
		{"an array", "login/after", `[1]`, "invalid_json", ""},
		{"unknown field", "login/after", `{` + after + `,` + tor + `,"traits":{"email":"a@b"}}`, "unknown_field", "traits"},
		{"unknown flow field", "login/after", `{` + after + `,` + tor + `,"flow":{"ui":{}}}`, "unknown_field", "flow.ui"},
		{"flow not an object", "login/after", `{` + after + `,` + tor + `,"flow":"login"}`, "invalid_type", "flow"},
		{"bad flow type", "login/after", `{` + after + `,` + tor + `,"flow":{"type":"cli"}}`, "invalid_type", "flow.type"},
		{"bad requested aal", "login/after", `{` + after + `,` + tor + `,"flow":{"requested_aal":"aal9"}}`, "invalid_aal", "flow.requested_aal"},
		{"identity id a number", "login/after", `{"identity":{"id":7},"session":{"authenticator_assurance_level":"aal1"},` + tor + `}`, "invalid_type", "identity.id"},
		{"identity id too long", "login/after", `{"identity":{"id":"` + strings.Repeat("x", 257) + `"},"session":{"authenticator_assurance_level":"aal1"},` + tor + `}`, "too_long", "identity.id"},
		{"identity id with a control", "login/after", `{"identity":{"id":"a\u0000b"},"session":{"authenticator_assurance_level":"aal1"},` + tor + `}`, "invalid_string", "identity.id"},
		{"no identity after login", "login/after", `{"session":{"authenticator_assurance_level":"aal1"},` + tor + `}`, "missing_field", "identity.id"},
		{"no session after login", "login/after", `{"identity":{"id":"` + who + `"},` + tor + `}`, "missing_field", "session.authenticator_assurance_level"},
		{"bad aal", "login/after", `{"identity":{"id":"` + who + `"},"session":{"authenticator_assurance_level":"AAL2"},` + tor + `}`, "invalid_aal", "session.authenticator_assurance_level"},
		{"identity before", "login/before", `{"identity":{"id":"` + who + `"},` + tor + `}`, "unknown_field", "identity"},
		{"headers not an object", "login/after", `{` + after + `,"request_headers":["1.2.3.4"]}`, "invalid_type", "request_headers"},
		{"address a number", "login/after", `{` + after + `,"request_headers":{"True-Client-Ip":[7]}}`, "invalid_type", "request_headers.True-Client-Ip"},
		{"address a list", "login/after", `{` + after + `,"request_headers":{"True-Client-Ip":["` + ipTor + `, 10.0.0.1"]}}`, "invalid_ip", "request_headers.True-Client-Ip"},
		{"address with a zone", "login/after", `{` + after + `,"request_headers":{"true-client-ip":"fe80::1%eth0"}}`, "invalid_ip", "request_headers.true-client-ip"},
		{"address with a control", "login/after", `{` + after + `,"request_headers":{"True-Client-Ip":["65.0.0.1\n"]}}`, "invalid_string", "request_headers.True-Client-Ip"},
		{"user agent with a control", "login/after", `{` + after + `,` + `"request_headers":{"True-Client-Ip":"65.0.0.1","User-Agent":"a\u0007"}}`, "invalid_string", "request_headers.User-Agent"},
		{"device id an object", "login/after", `{` + after + `,` + tor + `,"device_id":{}}`, "invalid_type", "device_id"},
		{"session body without identity", "session", `{"authenticator_assurance_level":"aal1"}`, "missing_field", "identity.id"},
		{"session body without aal", "session", `{"identity":{"id":"` + who + `"}}`, "missing_field", "authenticator_assurance_level"},
		{"session body bad aal", "session", `{"identity":{"id":"` + who + `"},"authenticator_assurance_level":2}`, "invalid_type", "authenticator_assurance_level"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m := ts.do(http.MethodPost, "/v1/adapters/kratos/"+c.hook, "application/json", []byte(c.body))
			if status != http.StatusBadRequest || errorCode(m) != c.code || errorField(m) != c.field {
				t.Fatalf("%d %v, want 400 %s naming %q", status, m, c.code, c.field)
			}
		})
	}
	if got := ts.requiredAAL(who, "aal1"); got != "aal1" {
		t.Fatalf("a refused hook left a step-up: %s", got)
	}
	// The same body, made valid, does step up: the cases above were refused for what they broke.
	if status, m := ts.do(http.MethodPost, "/v1/adapters/kratos/login/after", "application/json", []byte(`{`+after+`,`+tor+`}`)); status != http.StatusOK || m["decision"] != "step_up" {
		t.Fatalf("the valid body: %d %v", status, m)
	}
}

// TestHostileKratosRequests: the adapter's endpoints hold to the API's rules: the decide scope, the key's
// tenants, JSON bodies by POST, the body limit, and no route beyond its names. An overlong user agent (the
// browser's own) is cut rather than failing the login.
func TestHostileKratosRequests(t *testing.T) {
	ts := startKratos(t, func(c *server.Config) { c.Keys = testKeyring(t) })
	body := jsonOf(t, kratosBody("9f8c3a52-1b0e-4d55-8f0e-6c1a7e2b00fe", "aal1", ipClean))
	session := []byte(`{"identity":{"id":"x"},"authenticator_assurance_level":"aal1"}`)
	cases := []struct {
		name, bearer, method, path, ctype string
		body                              []byte
		status                            int
		code                              string
	}{
		{"no key", "", "POST", "/v1/adapters/kratos/login/after", "application/json", body, 401, "unauthenticated"},
		{"no key, session", "", "POST", "/v1/adapters/kratos/session", "application/json", session, 401, "unauthenticated"},
		{"admin key", secretAdmin, "POST", "/v1/adapters/kratos/login/after", "application/json", body, 403, "forbidden"},
		{"admin key, session", secretAdmin, "POST", "/v1/adapters/kratos/session", "application/json", session, 403, "forbidden"},
		{"tenant key, default tenant", secretBrandA, "POST", "/v1/adapters/kratos/login/after", "application/json", body, 403, "forbidden_tenant"},
		{"tenant key, session of another tenant", secretBrandA, "POST", "/v1/adapters/kratos/session?tenant=brand-b", "application/json", session, 403, "forbidden_tenant"},
		{"tenant key, its tenant", secretBrandA, "POST", "/v1/adapters/kratos/login/after?tenant=brand-a", "application/json", body, 200, ""},
		{"bad tenant", secretIdP, "POST", "/v1/adapters/kratos/login/after?tenant=a/b", "application/json", body, 400, "invalid_tenant"},
		{"GET", secretIdP, "GET", "/v1/adapters/kratos/login/after", "", nil, 405, "method_not_allowed"},
		{"form body", secretIdP, "POST", "/v1/adapters/kratos/login/after", "application/x-www-form-urlencoded", body, 415, "unsupported_media_type"},
		{"form body, session", secretIdP, "POST", "/v1/adapters/kratos/session", "text/plain", session, 415, "unsupported_media_type"},
		{"unknown hook", secretIdP, "POST", "/v1/adapters/kratos/settings/after", "application/json", body, 404, "not_found"},
		{"dot segment", secretIdP, "POST", "/v1/adapters/kratos/login/../login/after", "application/json", body, 404, "not_found"},
		{"escaped slash", secretIdP, "POST", "/v1/adapters/kratos/login%2Fafter", "application/json", body, 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts.bearer = c.bearer
			status, m := ts.do(c.method, c.path, c.ctype, c.body)
			if status != c.status || errorCode(m) != c.code {
				t.Fatalf("%d %v, want %d %q", status, m, c.status, c.code)
			}
		})
	}

	ts.bearer = secretIdP
	long := kratosBody("9f8c3a52-1b0e-4d55-8f0e-6c1a7e2b00fd", "aal1", ipClean)
	long["request_headers"].(map[string]any)["User-Agent"] = []string{"Mozilla/5.0 " + strings.Repeat("é", 2000)}
	if status, m := ts.kratos("login/after", long); status != http.StatusOK {
		t.Fatalf("an overlong user agent: %d %v", status, m)
	}
	huge := kratosBody("9f8c3a52-1b0e-4d55-8f0e-6c1a7e2b00fd", "aal1", ipClean)
	huge["device_id"] = strings.Repeat("d", 20<<10)
	if status, m := ts.doDeclaringBody(http.MethodPost, "/v1/adapters/kratos/login/after", "application/json", jsonOf(t, huge)); status != http.StatusRequestEntityTooLarge || errorCode(m) != "body_too_large" {
		t.Fatalf("a body over the limit: %d %v", status, m)
	}
}
