package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/riskd/riskd/features"
)

// scanSeeds are bodies for FuzzScanDecide beyond decideSeeds: every field, each in the forms the scan takes and
// in the neighbouring forms it must leave to the tree (escapes, numbers fastjson reads loosely, nesting,
// duplicates, whitespace, non-ASCII, truncation).
var scanSeeds = []string{
	`{"type":"checkout","user_id":"u","ip":"::ffff:1.2.3.4","amount":49.9,"currency":"USD","attributes":{"shipping_country":"DE","item_count":"3"}}`,
	`{"type":"checkout","user_id":"u","ip":"1.2.3.4","amount":1.5e-3,"currency":"EUR"}`,
	`{"type":"checkout","user_id":"u","ip":"1.2.3.4","amount":-0,"currency":"EUR"}`,
	`{"type":"checkout","user_id":"u","ip":"1.2.3.4","amount":12.300000000000001,"currency":"EUR"}`,
	`{"type":"checkout","user_id":"u","ip":"1.2.3.4","amount":+5,"currency":"EUR"}`,
	`{"type":"checkout","user_id":"u","ip":"1.2.3.4","amount":-inf,"currency":"EUR"}`,
	`{"type":"checkout","user_id":"u","ip":"1.2.3.4","amount":nan,"currency":"EUR"}`,
	`{"type":"checkout","user_id":"u","ip":"1.2.3.4","amount":1-2,"currency":"EUR"}`,
	`{"type":"checkout","user_id":"u","ip":"1.2.3.4","amount":null,"currency":null}`,
	`{"type":"checkout","user_id":"u","ip":"1.2.3.4","amount":"5","currency":"EUR"}`,
	` {"type" : "login" ,` + "\n\t" + `"user_id":"u", "ip":"1.2.3.4"}` + "\r\n",
	`{"type":"login","user_id":"ü-ser","ip":"1.2.3.4","user_agent":"Mözilla/5.0 \u00e9"}`,
	`{"type":"login","user_id":"u\"v","ip":"1.2.3.4"}`,
	`{"type":"login","user_id":"u\u0041","ip":"1.2.3.4"}`,
	`{"type":"login","user_id":"u` + "\x7f" + `","ip":"1.2.3.4"}`,
	`{"type":"login","user_id":"u` + "\x01" + `","ip":"1.2.3.4"}`,
	`{"type":"login","user_id":"u` + "\xff" + `","ip":"1.2.3.4"}`,
	`{"type":"login","user\u005fid":"u","ip":"1.2.3.4"}`,
	`{"type":"login","type":null,"user_id":"u","ip":"1.2.3.4"}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","ip":"::1","user_id":"v"}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","attributes":{"a":"1"},"attributes":{"b":"2"}}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","attributes":{"a":"1"},"attributes":null}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","attributes":{"a":null}}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","attributes":{"A":"1"}}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","attributes":{}}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","attributes":{"a":{"b":"c"}}}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","attributes":[]}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","mfa_preference":"always","mfa_preference":""}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","credentials_valid":false,"session_id":"s","event_id":"e"}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","credentials_valid":null}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","credentials_valid":truex}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","credentials_valid":"true"}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","timestamp":"2026-01-02T03:04:05.123456789+01:00"}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","timestamp":"1969-12-31T23:59:59Z"}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","timestamp":""}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","tenant":"brand a"}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","channel":"fax"}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","currency":"EUR"}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4",}`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4"}x`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4"`,
	`{"type":"login","user_id":"u","ip":"1.2.3.4","nope":1}`,
	`{"type":"logout","user_id":"u","ip":"1.2.3.4"}`,
	`{"type":"registration","ip":"1.2.3.4"}`,
	`{"type":"login","ip":"1.2.3.4"}`,
	`{}`, ` `, ``, `null`,
}

// FuzzScanDecide holds the one-pass decoder to the fastjson one: a body the scan takes must be one the tree
// accepts, decoded to the same event, and decodeDecide as a whole must answer every body as the tree does:
// the same event, or an error with the same status, code, field and message.
func FuzzScanDecide(f *testing.F) {
	for _, s := range append(append([]string{}, decideSeeds...), scanSeeds...) {
		f.Add([]byte(s))
	}
	var tree, full fastjson.Parser
	f.Fuzz(func(t *testing.T, body []byte) {
		var want features.Event
		wantAE := decodeDecideTree(&tree, body, &want)
		var got features.Event
		if scanDecide(body, &got) {
			if wantAE != nil {
				t.Fatalf("scan took %q, which the tree refuses: %+v", body, wantAE)
			}
			if got != want {
				t.Fatalf("scan decoded %q to\n%+v\nthe tree to\n%+v", body, got, want)
			}
		}
		var ev features.Event
		ae := decodeDecide(&full, body, &ev)
		switch {
		case (ae == nil) != (wantAE == nil):
			t.Fatalf("decodeDecide(%q) = %+v, the tree %+v", body, ae, wantAE)
		case ae != nil && *ae != *wantAE:
			t.Fatalf("decodeDecide(%q) refused with %+v, the tree with %+v", body, *ae, *wantAE)
		case ae == nil && ev != want:
			t.Fatalf("decodeDecide(%q) decoded\n%+v\nthe tree\n%+v", body, ev, want)
		}
	})
}

// TestScanDecideTakesCommonBodies: the bodies clients send are decoded in one pass, to the tree's events. A
// scan that left them to the tree would still answer right, only at twice the cost, so nothing else would
// notice.
func TestScanDecideTakesCommonBodies(t *testing.T) {
	bodies := []string{
		string(benchBody),
		`{"type":"login","user_id":"user-1","ip":"216.160.83.56","device_id":"dev-1","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","credentials_valid":true,"timestamp":"2026-11-21T10:00:00Z"}`,
		`{"type":"checkout","user_id":"u","ip":"2001:db8::1","amount":49.9,"currency":"USD","mfa_preference":"sensitive","attributes":{"shipping_country":"DE","item_count":"3"}}`,
		`{"type":"registration","ip":"1.2.3.4","session_id":"s","event_id":"e","tenant":null,"channel":"mobile"}`,
		"{\n  \"type\": \"login\",\n  \"user_id\": \"Jürgen\",\n  \"ip\": \"::ffff:10.0.0.1\",\n  \"user_agent\": \"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1\",\n  \"credentials_valid\": false\n}\n",
	}
	var p fastjson.Parser
	for _, body := range bodies {
		var got, want features.Event
		if !scanDecide([]byte(body), &got) {
			t.Errorf("scan left to the tree: %s", body)
			continue
		}
		if ae := decodeDecideTree(&p, []byte(body), &want); ae != nil {
			t.Fatalf("tree refused %s: %+v", body, ae)
		}
		if got != want {
			t.Errorf("scan decoded %s to\n%+v\nthe tree to\n%+v", body, got, want)
		}
	}
}

// TestScanDecideLeavesEscapesToTheTree: a body the scan does not take is still decoded, by the tree, escapes
// included; the event comes out whole and not mixed with what the scan had read before it stopped.
func TestScanDecideLeavesEscapesToTheTree(t *testing.T) {
	var p fastjson.Parser
	for _, tc := range []struct{ body, userAgent string }{
		{`{"type":"login","user_id":"u","ip":"1.2.3.4","user_agent":"a\/b \u00e9 \"q\""}`, `a/b é "q"`},
		{`{"type":"login","user_id":"u","device_id":"d","ip":"1.2.3.4","user_agent":"x","user\u005fagent":"y"}`, "y"},
	} {
		var ev features.Event
		if scanDecide([]byte(tc.body), &ev) {
			t.Fatalf("scan took %s", tc.body)
		}
		ev.Reset()
		if ae := decodeDecide(&p, []byte(tc.body), &ev); ae != nil {
			t.Fatalf("%s: %+v", tc.body, ae)
		}
		if ev.UserAgent != tc.userAgent || ev.UserID != "u" || ev.IP.String() != "1.2.3.4" {
			t.Errorf("%s decoded to %+v", tc.body, ev)
		}
	}
}

// TestScanDecideStopsAtEveryTruncation: every prefix of an accepted body is refused by both paths alike.
func TestScanDecideStopsAtEveryTruncation(t *testing.T) {
	body := `{"type":"checkout","user_id":"u","ip":"1.2.3.4","amount":49.9,"currency":"USD","credentials_valid":true,"attributes":{"item_count":"3"}}`
	var p fastjson.Parser
	for n := range len(body) {
		var ev features.Event
		if scanDecide([]byte(body[:n]), &ev) {
			t.Fatalf("scan took the prefix %q", body[:n])
		}
		var want features.Event
		if decodeDecideTree(&p, []byte(body[:n]), &want) == nil {
			t.Fatalf("tree took the prefix %q", body[:n])
		}
	}
}

// TestScanTimestampMatchesTimeParse: every day from before 1970 to after 2200, at times of day that reach each
// field's bounds, and the malformed neighbours, read by scanTimestamp exactly as parseTimestamp (time.Parse)
// reads them, or left to it.
func TestScanTimestampMatchesTimeParse(t *testing.T) {
	check := func(s string) {
		t.Helper()
		got, ok := scanTimestamp(s)
		want, ae := parseTimestamp(s)
		if ok && (ae != nil || got != want) {
			t.Fatalf("scanTimestamp(%q) = %d, parseTimestamp %d, %v", s, got, want, ae)
		}
	}
	taken := 0
	for day := time.Date(1969, 12, 25, 0, 0, 0, 0, time.UTC); day.Year() < 2202; day = day.AddDate(0, 0, 1) {
		for _, clock := range []string{"00:00:00", "23:59:59", "12:34:56"} {
			s := day.Format("2006-01-02") + "T" + clock + "Z"
			check(s)
			if _, ok := scanTimestamp(s); ok {
				taken++
			}
		}
	}
	if want := 3 * int(time.Date(2201, 1, 1, 0, 0, 0, 0, time.UTC).Sub(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)).Hours()/24); taken != want {
		t.Errorf("scanTimestamp took %d of the timestamps from 1970 to 2200, want %d", taken, want)
	}
	for _, s := range []string{
		"2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
		"2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z", "2026-00-10T00:00:00Z", "2026-13-10T00:00:00Z",
		"2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z", "2026-01-02T24:00:00Z", "2026-01-02T23:60:00Z",
		"2026-01-02T23:59:60Z", "2026-01-02t23:59:59Z", "2026-01-02T23:59:59z", "2026-01-02T23:59:59",
		"2026-01-02T23:59:59.5Z", "2026-01-02T23:59:59+00:00", "2026-1-02T23:59:59Z", "+026-01-02T23:59:59Z",
		"2026-01-02T2:359:59Z", "2026-01-02 23:59:59Z", "1969-12-31T23:59:59Z", "2201-01-01T00:00:00Z",
		"2200-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
	} {
		check(s)
	}
}

// TestScanIPv4MatchesNetip: dotted quads and their malformed neighbours, read by scanIPv4 exactly as parseIP
// (netip.ParseAddr) reads them, or left to it.
func TestScanIPv4MatchesNetip(t *testing.T) {
	check := func(s string) bool {
		t.Helper()
		got, ok := scanIPv4(s)
		want, ae := parseIP(s)
		if ok && (ae != nil || got != want) {
			t.Fatalf("scanIPv4(%q) = %v, parseIP %v, %v", s, got, want, ae)
		}
		return ok
	}
	for _, s := range []string{
		"0.0.0.0", "255.255.255.255", "1.2.3.4", "216.160.83.56", "10.0.0.1", "100.20.3.0", "9.99.199.249",
	} {
		if !check(s) {
			t.Errorf("scanIPv4 left %q to netip", s)
		}
	}
	for _, s := range []string{
		"", ".", "1.2.3", "1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.256", "01.2.3.4",
		"1.2.3.04", "1.2.3.00", "1.2.3.-4", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4%eth0", "::1", "::ffff:1.2.3.4",
		"1.2.3.1000", "1.2.3.0x1", "１.2.3.4", "1.2.3.4/24", "4294967296.1.1.1",
	} {
		check(s)
	}
	for a := range 256 {
		for _, s := range []string{fmt.Sprintf("%d.%d.%d.%d", a, 255-a, a/2, a%7), fmt.Sprintf("%03d.1.1.1", a)} {
			check(s)
		}
	}
}
