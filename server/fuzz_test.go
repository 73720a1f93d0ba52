package server

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/riskd/riskd/features"
)

var decideSeeds = []string{
	`{"type":"login","user_id":"u","ip":"216.160.83.56","device_id":"d","credentials_valid":true}`,
	`{"type":"registration","ip":"::1","tenant":"brand-a","channel":"web","attributes":{"a":"b"}}`,
	`{"type":"checkout","user_id":"u","ip":"1.2.3.4","amount":12.5,"currency":"EUR","mfa_preference":"sensitive","timestamp":"2026-01-02T03:04:05Z"}`,
	`{"type":"login","user_id":null,"ip":"1.2.3.4"}`,
	`{"type":"login","user_id":"\u0000","ip":"1.2.3.4"}`,
	`{"type":"login","ip":"fe80::1%eth0","user_id":"x"}`,
	`[]`, `{`, `"x"`, `{"amount":1e400}`,
}

// FuzzDecodeDecide checks that no body panics the decoder, that an accepted event satisfies every rule the
// API promises, and that a refusal names a code.
func FuzzDecodeDecide(f *testing.F) {
	for _, s := range decideSeeds {
		f.Add([]byte(s))
	}
	var p fastjson.Parser
	f.Fuzz(func(t *testing.T, body []byte) {
		var ev features.Event
		if ae := decodeDecide(&p, body, &ev); ae != nil {
			if ae.code == "" || ae.status != 400 {
				t.Fatalf("refusal without code or with status %d: %+v", ae.status, ae)
			}
			return
		}
		switch {
		case ev.Type.String() == "":
			t.Fatalf("accepted without a valid type: %q", body)
		case !ev.IP.IsValid() || ev.IP.Zone() != "":
			t.Fatalf("accepted without a valid ip: %q", body)
		case ev.UserID == "" && ev.Type != features.Registration:
			t.Fatalf("accepted without user_id: %q", body)
		case len(ev.UserID) > maxIDLen || len(ev.DeviceID) > maxIDLen || len(ev.UserAgent) > maxUserAgentLen:
			t.Fatalf("accepted an over-long string: %q", body)
		case ev.Tenant == "" || !validTenant(ev.Tenant):
			t.Fatalf("accepted a bad tenant %q", ev.Tenant)
		case ev.Amount < 0 || ev.Amount > maxAmount:
			t.Fatalf("accepted amount %v", ev.Amount)
		case ev.NumAttributes > features.MaxAttributes:
			t.Fatalf("accepted %d attributes", ev.NumAttributes)
		}
		for _, s := range []string{ev.UserID, ev.DeviceID, ev.UserAgent, ev.SessionID, ev.EventID} {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("accepted an invalid string %q", s)
			}
		}
	})
}

// FuzzDecodeOutcome checks the /v1/events decoder the same way.
func FuzzDecodeOutcome(f *testing.F) {
	for _, s := range []string{
		`{"type":"mfa_passed","user_id":"u","ip":"1.2.3.4","device_id":"d","evaluation_id":"00ff","timestamp":"2026-01-02T03:04:05Z"}`,
		`{"type":"login_failed","user_id":"u"}`, `{"type":"nope"}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	var p fastjson.Parser
	f.Fuzz(func(t *testing.T, body []byte) {
		var o features.Outcome
		if ae := decodeOutcome(&p, body, &o); ae != nil {
			if ae.code == "" {
				t.Fatalf("refusal without code: %+v", ae)
			}
			return
		}
		if o.Type.String() == "" || o.UserID == "" || len(o.UserID) > maxIDLen {
			t.Fatalf("accepted an invalid outcome %+v from %q", o, body)
		}
	})
}
