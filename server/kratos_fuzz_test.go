package server

import (
	"testing"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/riskd/riskd/features"
)

// FuzzDecodeKratosHook checks that no hook body panics the decoder, that a refusal is a 400 naming a code, and
// that an accepted body gives an event the API's own bounds hold for, as Kratos's after-login hook promises.
func FuzzDecodeKratosHook(f *testing.F) {
	for _, s := range []string{
		`{"flow":{"id":"f","type":"browser","active":"password","requested_aal":"aal1"},"identity":{"id":"u"},"session":{"authenticator_assurance_level":"aal1"},"request_headers":{"True-Client-Ip":["65.0.0.1"],"User-Agent":["Mozilla/5.0"]},"device_id":"d"}`,
		`{"identity":{"id":"00000000-0000-0000-0000-000000000000"},"request_headers":{"true-client-ip":"::ffff:1.2.3.4"}}`,
		`{"request_headers":{"True-Client-Ip":[]},"session":null}`,
		`{"flow":{"type":"cli"}}`, `[]`, `{`, `{"identity":{"id":7}}`,
	} {
		f.Add([]byte(s), uint8(1))
	}
	var p fastjson.Parser
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		hook := kratosHook{event: features.Login, after: which&1 == 1}
		if which&2 != 0 {
			hook.event = features.Registration
		}
		var ev features.Event
		var kc kratosContext
		if ae := decodeKratosHook(&p, body, hook, "True-Client-Ip", &ev, &kc); ae != nil {
			if ae.code == "" || ae.status != 400 {
				t.Fatalf("refusal without code or with status %d: %+v", ae.status, ae)
			}
			return
		}
		switch {
		case ev.Type != hook.event:
			t.Fatalf("event type %v for a %v hook", ev.Type, hook.event)
		case hook.event == features.Login && hook.after && (ev.UserID == "" || kc.aal == "" || !ev.CredentialsValid):
			t.Fatalf("an accepted login/after without identity, level or checked credentials: %q", body)
		case !hook.after && ev.UserID != "":
			t.Fatalf("a before hook took an identity: %q", body)
		case len(ev.UserID) > maxIDLen || len(ev.DeviceID) > maxIDLen || len(ev.UserAgent) > maxUserAgentLen:
			t.Fatalf("a field over its bound: %q", body)
		case !utf8.ValidString(ev.UserAgent) || ev.IP.Zone() != "" || ev.IP.Is4In6():
			t.Fatalf("an invalid user agent or address: %q", body)
		case ev.NumAttributes > len(ev.Attributes):
			t.Fatalf("attributes overflow: %q", body)
		}
	})
}
