package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/riskd/riskd/server"
	"github.com/riskd/riskd/signals"
)

func errorField(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

// TestSSFBadStreamConfigurations: each refused with 400 naming the field, and nothing created.
func TestSSFBadStreamConfigurations(t *testing.T) {
	ts := startSSF(t, nil)
	push := func(url, auth string, events ...string) map[string]any {
		return map[string]any{"events_requested": events,
			"delivery": map[string]any{"method": signals.DeliveryPush, "endpoint_url": url, "authorization_header": auth}}
	}
	cases := []struct {
		name  string
		body  string
		field string
	}{
		{"unknown event type", string(jsonOf(t, push("https://rcv.example/e", "Bearer t", "https://schemas.openid.net/secevent/caep/event-type/credential-change"))), "events_requested"},
		{"http outside loopback", string(jsonOf(t, push("http://rcv.example/e", "Bearer t", signals.EventSessionRevoked))), "delivery.endpoint_url"},
		{"missing token", string(jsonOf(t, push("https://rcv.example/e", "", signals.EventSessionRevoked))), "delivery.authorization_header"},
		{"missing delivery", `{"events_requested":[]}`, "delivery"},
		{"events as a string", `{"events_requested":"all"}`, "events_requested"},
		{"not JSON", `{"delivery":`, "body"},
		{"empty body", ``, "body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m := ts.do(http.MethodPost, "/ssf/stream", "application/json", []byte(c.body))
			if status != http.StatusBadRequest || errorField(m) != c.field {
				t.Fatalf("%d %v, want 400 naming %s", status, m, c.field)
			}
		})
	}
	var list []any
	getJSON(t, ts.base+"/ssf/stream", &list)
	if len(list) != 0 {
		t.Fatalf("refused streams were kept: %v", list)
	}

	// An update is held to the same checks, and a refused one leaves the stream as it was.
	status, cfg := ts.post("/ssf/stream", push("https://rcv.example/e", "Bearer t", signals.EventSessionRevoked))
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, cfg)
	}
	id := cfg["stream_id"].(string)
	status, m := ts.do(http.MethodPatch, "/ssf/stream", "application/json", jsonOf(t, map[string]any{"stream_id": id, "events_requested": []string{"x"}}))
	if status != http.StatusBadRequest || errorField(m) != "events_requested" {
		t.Fatalf("bad update: %d %v", status, m)
	}
	status, m = ts.do(http.MethodPatch, "/ssf/stream", "application/json", jsonOf(t, map[string]any{"stream_id": id,
		"delivery": map[string]any{"method": signals.DeliveryPoll}}))
	if status != http.StatusBadRequest || errorField(m) != "delivery.method" {
		t.Fatalf("a change of delivery method: %d %v", status, m)
	}
	var got signals.StreamConfig
	getJSON(t, ts.base+"/ssf/stream?stream_id="+id, &got)
	if strings.Join(got.EventsDelivered, ",") != signals.EventSessionRevoked || got.Delivery.Method != signals.DeliveryPush {
		t.Fatalf("a refused update changed the stream: %+v", got)
	}
	for _, c := range []struct {
		path, body, field string
		status            int
	}{
		{"/ssf/status", `{"stream_id":"` + id + `","status":"asleep"}`, "status", 400},
		{"/ssf/subjects:add", `{"stream_id":"` + id + `","subject":{"format":"email","email":"a@b"}}`, "subject.format", 400},
		{"/ssf/subjects:remove", `{"stream_id":"` + id + `"}`, "subject", 400},
		{"/ssf/verify", `{"stream_id":"nope"}`, "stream_id", 404},
	} {
		status, m := ts.do(http.MethodPost, c.path, "application/json", []byte(c.body))
		if status != c.status || errorField(m) != c.field {
			t.Errorf("%s %s: %d %v, want %d naming %s", c.path, c.body, status, m, c.status, c.field)
		}
	}
}

func jsonOf(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jsonEncode(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSSFManagementNeedsAdmin: stream management needs an admin key for every tenant; discovery and the JWKS
// are public; a poll needs its stream's token, whatever API key it carries.
func TestSSFManagementNeedsAdmin(t *testing.T) {
	ts := startSSF(t, nil, func(c *server.Config) { c.Keys = testKeyring(t) })
	body := jsonOf(t, map[string]any{"events_requested": []string{signals.EventSessionRevoked},
		"delivery": map[string]any{"method": signals.DeliveryPoll, "authorization_header": "Bearer poll"}})
	for _, c := range []struct {
		bearer string
		status int
	}{{"", 401}, {secretIdP, 403}, {secretBrandAd, 403}, {secretAdmin, 201}} {
		ts.bearer = c.bearer
		if status, m := ts.do(http.MethodPost, "/ssf/stream", "application/json", body); status != c.status {
			t.Fatalf("create with key %q: %d %v, want %d", c.bearer, status, m, c.status)
		}
	}
	ts.bearer = ""
	var meta map[string]any
	getJSON(t, ts.base+"/.well-known/ssf-configuration", &meta)
	getJSON(t, ts.base+"/ssf/jwks.json", &meta)
	ts.bearer = secretAdmin
	_, raw := ts.do(http.MethodGet, "/ssf/status?stream_id=x", "", nil)
	if errorCode(raw) != "stream_not_found" {
		t.Fatalf("status of an unknown stream: %v", raw)
	}
	ts.bearer = ""
	if status, _ := poll(t, ts.base+"/ssf/poll/nope", "Bearer "+secretAdmin, map[string]any{"returnImmediately": true}); status != http.StatusUnauthorized {
		t.Fatalf("poll of an unknown stream with an admin key: %d, want 401", status)
	}
}

// TestSSFManagementOnlyOnTheAdminListener: with a separate admin listener, the main one serves discovery, the
// JWKS and polls, not stream management.
func TestSSFManagementOnlyOnTheAdminListener(t *testing.T) {
	ts := startSSF(t, nil, func(c *server.Config) { c.SeparateAdmin = true })
	if status, _ := ts.do(http.MethodGet, "/ssf/stream", "", nil); status != http.StatusNotFound {
		t.Fatalf("stream management on the main listener: %d", status)
	}
	var meta map[string]any
	getJSON(t, ts.base+"/.well-known/ssf-configuration", &meta)
}

func jsonEncode(b *bytes.Buffer, v any) error { return json.NewEncoder(b).Encode(v) }

// TestSSFBadPolls: a poll body of the wrong shape is refused with 400 naming the field.
func TestSSFBadPolls(t *testing.T) {
	ts := startSSF(t, nil)
	status, cfg := ts.post("/ssf/stream", map[string]any{"events_requested": []string{signals.EventSessionRevoked},
		"delivery": map[string]any{"method": signals.DeliveryPoll, "authorization_header": "Bearer p"}})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, cfg)
	}
	url := ts.base + "/ssf/poll/" + cfg["stream_id"].(string)
	for _, c := range []struct {
		body, field string
	}{
		{`{"maxEvents":"ten"}`, "maxEvents"},
		{`{"maxEvents":-1}`, "maxEvents"},
		{`{"ack":"jti"}`, "ack"},
		{`[1,2]`, "body"},
	} {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer p")
		req.Header.Set("Content-Type", "application/json")
		resp, err := checked(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || errorField(m) != c.field {
			t.Errorf("poll %s: %d %v, want 400 naming %s", c.body, resp.StatusCode, m, c.field)
		}
	}
}

// TestSSFBodiesMustBeJSON: a stream management body not declared application/json is refused with 415 and
// changes nothing. Without keys riskd trusts whoever reaches its loopback listener, and a web page can make a
// browser POST a text/plain body there without asking first (never a JSON one): it must not create a stream
// pushing every user's risk events to a receiver of its choosing.
func TestSSFBodiesMustBeJSON(t *testing.T) {
	ts := startSSF(t, nil)
	create := jsonOf(t, map[string]any{"events_requested": []string{signals.EventRiskLevelChange},
		"delivery": map[string]any{"method": signals.DeliveryPush, "endpoint_url": "https://attacker.example/e", "authorization_header": "Bearer x"}})
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		if status, m := ts.do(http.MethodPost, "/ssf/stream", ct, create); status != http.StatusUnsupportedMediaType {
			t.Errorf("create with Content-Type %q: %d %v, want 415", ct, status, m)
		}
	}
	var list []any
	getJSON(t, ts.base+"/ssf/stream", &list)
	if len(list) != 0 {
		t.Fatalf("a stream was created from a body that is not declared JSON: %v", list)
	}
	status, cfg := ts.post("/ssf/stream", map[string]any{"events_requested": []string{signals.EventSessionRevoked},
		"delivery": map[string]any{"method": signals.DeliveryPoll, "authorization_header": "Bearer p"}})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, cfg)
	}
	id := cfg["stream_id"].(string)
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPatch, "/ssf/stream", `{"stream_id":"` + id + `","description":"x"}`},
		{http.MethodPost, "/ssf/status", `{"stream_id":"` + id + `","status":"disabled"}`},
		{http.MethodPost, "/ssf/subjects:remove", `{"stream_id":"` + id + `","subject":{"format":"opaque","id":"u"}}`},
		{http.MethodPost, "/ssf/verify", `{"stream_id":"` + id + `"}`},
	} {
		if status, m := ts.do(c.method, c.path, "text/plain", []byte(c.body)); status != http.StatusUnsupportedMediaType {
			t.Errorf("%s %s as text/plain: %d %v, want 415", c.method, c.path, status, m)
		}
	}
	var st signals.StreamStatus
	getJSON(t, ts.base+"/ssf/status?stream_id="+id, &st)
	if st.Status != signals.StatusEnabled {
		t.Fatalf("a text/plain status change was applied: %+v", st)
	}
}
