package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/internal/contracttest"
	"github.com/riskd/riskd/server"
	"github.com/riskd/riskd/signals"
)

// ssfRiskd is riskd with its Shared Signals transmitter, serving on a loopback port that is also its issuer.
type ssfRiskd struct {
	*testServer
	tx  *signals.Transmitter
	reg *metrics.Set
}

func startSSF(t *testing.T, configure func(*signals.Config), serverOpts ...func(*server.Config)) *ssfRiskd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key, err := signals.EphemeralKey()
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewSet()
	cfg := signals.Config{Issuer: "http://" + ln.Addr().String(), Key: key, Metrics: reg,
		RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, PollWait: 2 * time.Second}
	if configure != nil {
		configure(&cfg)
	}
	tx, err := signals.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	scfg := server.Config{Metrics: reg, Signals: tx, Engine: enginetest.New(t, reg, func(c *engine.Config) { c.Signals = tx })}
	for _, o := range serverOpts {
		o(&scfg)
	}
	srv, err := server.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Shutdown(t.Context())
		<-done
		tx.Close()
	})
	return &ssfRiskd{testServer: &testServer{t: t, srv: srv, base: cfg.Issuer, client: checked(t)}, tx: tx, reg: reg}
}

// checked returns a client that checks every exchange with riskd against api/openapi.yaml (contracttest), as
// startWith's does. Push receivers are not riskd: what riskd sends them is checked by the receivers.
func checked(t *testing.T) *http.Client {
	return &http.Client{Transport: contracttest.Transport(t, nil)}
}

// receiver is a push receiver (RFC 8935) on loopback: it checks the request, answers 500 to the next
// failNext requests and 202 to the others, and hands over the SETs it accepted.
type receiver struct {
	t        *testing.T
	url      string
	token    string
	mu       sync.Mutex
	failNext int
	refused  []string // SETs answered 500
	accepted chan string
}

func startReceiver(t *testing.T, token string) *receiver {
	t.Helper()
	r := &receiver{t: t, token: token, accepted: make(chan string, 64)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.url = "http://" + ln.Addr().String() + "/events"
	hs := &http.Server{Handler: http.HandlerFunc(r.serve)}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	switch {
	case req.Method != http.MethodPost || req.URL.Path != "/events":
		w.WriteHeader(http.StatusNotFound)
		return
	case req.Header.Get("Content-Type") != "application/secevent+jwt":
		r.t.Errorf("push content type %q", req.Header.Get("Content-Type"))
	case req.Header.Get("Authorization") != r.token:
		r.t.Errorf("push authorization %q, want the stream's token", req.Header.Get("Authorization"))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	fail := r.failNext > 0
	if fail {
		r.failNext--
		r.refused = append(r.refused, string(body))
	}
	r.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	r.accepted <- string(body)
}

func (r *receiver) next() string {
	r.t.Helper()
	select {
	case s := <-r.accepted:
		return s
	case <-time.After(5 * time.Second):
		r.t.Fatal("no security event pushed within 5 s")
	}
	return ""
}

// drain discards what arrives until nothing has for quiet.
func (r *receiver) drain(quiet time.Duration) {
	for {
		select {
		case <-r.accepted:
		case <-time.After(quiet):
			return
		}
	}
}

func (r *receiver) none(within time.Duration) {
	r.t.Helper()
	select {
	case s := <-r.accepted:
		r.t.Fatalf("unexpected security event: %s", s)
	case <-time.After(within):
	}
}

// discovered is what a receiver learns from the transmitter's configuration metadata.
type discovered struct {
	Issuer      string   `json:"issuer"`
	JWKSURI     string   `json:"jwks_uri"`
	Spec        string   `json:"spec_version"`
	Methods     []string `json:"delivery_methods_supported"`
	Config      string   `json:"configuration_endpoint"`
	Status      string   `json:"status_endpoint"`
	AddSubject  string   `json:"add_subject_endpoint"`
	RemoveSubj  string   `json:"remove_subject_endpoint"`
	Verify      string   `json:"verification_endpoint"`
	AuthSchemes []struct {
		SpecURN string `json:"spec_urn"`
	} `json:"authorization_schemes"`
	keys jwk.Set
}

func discover(t *testing.T, base string) *discovered {
	t.Helper()
	var d discovered
	getJSON(t, base+"/.well-known/ssf-configuration", &d)
	if d.Issuer != base || d.Spec != "1_0" || d.JWKSURI == "" || d.Config == "" || d.Status == "" || d.AddSubject == "" ||
		d.RemoveSubj == "" || d.Verify == "" || len(d.AuthSchemes) == 0 || d.AuthSchemes[0].SpecURN != "urn:ietf:rfc:6750" ||
		strings.Join(d.Methods, " ") != "urn:ietf:rfc:8935 urn:ietf:rfc:8936" {
		t.Fatalf("configuration metadata: %+v", d)
	}
	resp, err := checked(t).Get(d.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if d.keys, err = jwk.Parse(raw); err != nil {
		t.Fatalf("JWKS %s: %v", raw, err)
	}
	return &d
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := checked(t).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, raw)
	}
}

// verifiedSET is a SET checked with jwx, a JOSE library other than the one riskd signs with.
type verifiedSET struct {
	Iss    string                    `json:"iss"`
	Aud    string                    `json:"aud"`
	Iat    int64                     `json:"iat"`
	Jti    string                    `json:"jti"`
	SubID  map[string]string         `json:"sub_id"`
	Events map[string]map[string]any `json:"events"`
}

func (d *discovered) verify(t *testing.T, token, aud string) verifiedSET {
	t.Helper()
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		t.Fatalf("SET is not a JWS: %v: %s", err, token)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if typ, _ := h.Type(); typ != "secevent+jwt" {
		t.Fatalf("typ %q, want secevent+jwt", typ)
	}
	if kid, _ := h.KeyID(); kid == "" {
		t.Fatal("SET without kid")
	}
	payload, err := jws.Verify([]byte(token), jws.WithKeySet(d.keys, jws.WithRequireKid(true)))
	if err != nil {
		t.Fatalf("SET signature does not verify against the JWKS: %v", err)
	}
	var s verifiedSET
	if err := json.Unmarshal(payload, &s); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	switch {
	case s.Iss != d.Issuer:
		t.Fatalf("iss %q, want %q", s.Iss, d.Issuer)
	case s.Aud != aud:
		t.Fatalf("aud %q, want %q", s.Aud, aud)
	case s.Iat < now-60 || s.Iat > now+5:
		t.Fatalf("iat %d, now %d", s.Iat, now)
	case len(s.Jti) < 16:
		t.Fatalf("jti %q", s.Jti)
	case len(s.Events) != 1:
		t.Fatalf("events %v: want one event per SET", s.Events)
	}
	return s
}

func (s verifiedSET) event(t *testing.T, typ string) map[string]any {
	t.Helper()
	ev, ok := s.Events[typ]
	if !ok {
		t.Fatalf("events %v, want %s", s.Events, typ)
	}
	return ev
}

func (s verifiedSET) subject(t *testing.T, user string) {
	t.Helper()
	if s.SubID["format"] != "opaque" || s.SubID["id"] != user || len(s.SubID) != 2 {
		t.Fatalf("sub_id %v, want the opaque subject %q", s.SubID, user)
	}
}

// admin sends a stream management request to an endpoint the metadata named.
func (ts *ssfRiskd) admin(method, url string, body any) (int, map[string]any) {
	ts.t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			ts.t.Fatal(err)
		}
	}
	return ts.do(method, url, "application/json", b)
}

var allEvents = []string{signals.EventRiskLevelChange, signals.EventSessionRevoked, signals.EventCredentialCompromise}

// checkFraudSETs checks the two SETs a fraud_confirmed makes for user: the level to HIGH, the sessions revoked.
func checkFraudSETs(t *testing.T, d *discovered, aud, user string, first, second string) {
	t.Helper()
	rl := d.verify(t, first, aud)
	rl.subject(t, user)
	ev := rl.event(t, signals.EventRiskLevelChange)
	if ev["principal"] != "USER" || ev["current_level"] != "HIGH" || ev["previous_level"] != "LOW" || ev["risk_reason"] != "fraud confirmed" {
		t.Fatalf("risk-level-change claims %v", ev)
	}
	sr := d.verify(t, second, aud)
	sr.subject(t, user)
	ev = sr.event(t, signals.EventSessionRevoked)
	if ev["initiating_entity"] != "policy" || ev["event_timestamp"] == nil {
		t.Fatalf("session-revoked claims %v", ev)
	}
}

func TestSSFPushEndToEnd(t *testing.T) {
	ts := startSSF(t, nil)
	rcv := startReceiver(t, "Bearer receiver-secret")
	d := discover(t, ts.base)

	status, cfg := ts.admin(http.MethodPost, d.Config, map[string]any{
		"events_requested": allEvents,
		"delivery":         map[string]any{"method": signals.DeliveryPush, "endpoint_url": rcv.url, "authorization_header": rcv.token},
	})
	if status != http.StatusCreated {
		t.Fatalf("create stream: %d %v", status, cfg)
	}
	id, aud := cfg["stream_id"].(string), cfg["aud"].(string)
	if len(cfg["events_delivered"].([]any)) != 3 || cfg["delivery"].(map[string]any)["authorization_header"] != nil {
		t.Fatalf("stream configuration %v: want 3 events delivered and the token not written back", cfg)
	}

	if status, m := ts.admin(http.MethodPost, d.Verify, map[string]any{"stream_id": id, "state": "state-8417"}); status != http.StatusNoContent {
		t.Fatalf("verification request: %d %v", status, m)
	}
	v := d.verify(t, rcv.next(), aud)
	if v.event(t, signals.EventVerification)["state"] != "state-8417" || v.SubID["id"] != id {
		t.Fatalf("verification event %+v", v)
	}

	ts.decide(login("alice@example.com", ipMilton, "dev-a", time.Now().Add(-time.Minute)))
	ts.event(map[string]any{"type": "fraud_confirmed", "user_id": "alice@example.com"})
	checkFraudSETs(t, d, aud, "alice@example.com", rcv.next(), rcv.next())

	// Confirmed fraud again: the level is HIGH already, so only the sessions are revoked.
	ts.event(map[string]any{"type": "fraud_confirmed", "user_id": "alice@example.com"})
	again := d.verify(t, rcv.next(), aud)
	again.event(t, signals.EventSessionRevoked)

	// A passed MFA resets the level.
	ts.event(map[string]any{"type": "mfa_passed", "user_id": "alice@example.com"})
	reset := d.verify(t, rcv.next(), aud).event(t, signals.EventRiskLevelChange)
	if reset["current_level"] != "LOW" || reset["previous_level"] != "HIGH" {
		t.Fatalf("reset %v", reset)
	}

	// A receiver answering 500 gets the SET again, and once accepted it is not sent again.
	rcv.mu.Lock()
	rcv.failNext = 1
	rcv.mu.Unlock()
	ts.event(map[string]any{"type": "fraud_confirmed", "user_id": "bob"})
	first, second := rcv.next(), rcv.next()
	checkFraudSETs(t, d, aud, "bob", first, second)
	rcv.mu.Lock()
	refused := rcv.refused
	rcv.mu.Unlock()
	if len(refused) != 1 || refused[0] != first {
		t.Fatalf("the SET answered 500 was not the one delivered after the retry")
	}
	rcv.none(300 * time.Millisecond)
	if got := ts.reg.GetOrCreateCounter("riskd_signals_retries_total").Get(); got != 1 {
		t.Fatalf("riskd_signals_retries_total %d, want 1", got)
	}

	// A removed subject is no longer reported; a paused stream holds its SETs until enabled.
	if status, m := ts.admin(http.MethodPost, d.RemoveSubj, map[string]any{"stream_id": id, "subject": map[string]string{"format": "opaque", "id": "carol"}}); status != http.StatusNoContent {
		t.Fatalf("remove subject: %d %v", status, m)
	}
	ts.event(map[string]any{"type": "fraud_confirmed", "user_id": "carol"})
	rcv.none(300 * time.Millisecond)
	if status, m := ts.admin(http.MethodPost, d.Status, map[string]any{"stream_id": id, "status": "paused"}); status != http.StatusOK {
		t.Fatalf("pause: %d %v", status, m)
	}
	ts.event(map[string]any{"type": "fraud_confirmed", "user_id": "dave"})
	rcv.none(300 * time.Millisecond)
	var st signals.StreamStatus
	getJSON(t, d.Status+"?stream_id="+id, &st)
	if st.Status != "paused" {
		t.Fatalf("status %+v", st)
	}
	ts.admin(http.MethodPost, d.Status, map[string]any{"stream_id": id, "status": "enabled"})
	checkFraudSETs(t, d, aud, "dave", rcv.next(), rcv.next())

	if status, _ := ts.admin(http.MethodDelete, d.Config+"?stream_id="+id, nil); status != http.StatusNoContent {
		t.Fatalf("delete stream: %d", status)
	}
	if status, _ := ts.admin(http.MethodGet, d.Config+"?stream_id="+id, nil); status != http.StatusNotFound {
		t.Fatalf("a deleted stream read: %d", status)
	}
}

// poll sends a poll request (RFC 8936) with token.
func poll(t *testing.T, url, token string, req map[string]any) (int, signals.PollResponse) {
	t.Helper()
	b, _ := json.Marshal(req)
	hr, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(b)))
	hr.Header.Set("Content-Type", "application/json")
	if token != "" {
		hr.Header.Set("Authorization", token)
	}
	resp, err := checked(t).Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pr signals.PollResponse
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &pr); err != nil {
			t.Fatalf("poll answer %s: %v", raw, err)
		}
	}
	return resp.StatusCode, pr
}

func TestSSFPollEndToEnd(t *testing.T) {
	ts := startSSF(t, nil)
	d := discover(t, ts.base)
	const token = "Bearer poller-secret"
	status, cfg := ts.admin(http.MethodPost, d.Config, map[string]any{
		"events_requested": []string{signals.EventRiskLevelChange, signals.EventSessionRevoked},
		"delivery":         map[string]any{"method": signals.DeliveryPoll, "authorization_header": token},
	})
	if status != http.StatusCreated {
		t.Fatalf("create stream: %d %v", status, cfg)
	}
	id, aud := cfg["stream_id"].(string), cfg["aud"].(string)
	url := cfg["delivery"].(map[string]any)["endpoint_url"].(string)
	if url != ts.base+"/ssf/poll/"+id {
		t.Fatalf("poll endpoint %q", url)
	}

	ts.admin(http.MethodPost, d.Verify, map[string]any{"stream_id": id, "state": "poll-state"})
	if status, _ := poll(t, url, "", map[string]any{"returnImmediately": true}); status != http.StatusUnauthorized {
		t.Fatalf("poll without the stream's token: %d", status)
	}
	if status, _ := poll(t, url, "Bearer wrong", map[string]any{"returnImmediately": true}); status != http.StatusUnauthorized {
		t.Fatalf("poll with another token: %d", status)
	}
	_, pr := poll(t, url, token, map[string]any{"returnImmediately": true})
	if len(pr.Sets) != 1 || pr.MoreAvailable {
		t.Fatalf("first poll %+v", pr)
	}
	var acks []string
	for jti, set := range pr.Sets {
		v := d.verify(t, set, aud)
		if v.Jti != jti || v.event(t, signals.EventVerification)["state"] != "poll-state" {
			t.Fatalf("verification SET %+v under jti %s", v, jti)
		}
		acks = append(acks, jti)
	}

	// A long poll waits for the events the outcome makes.
	go func() {
		time.Sleep(100 * time.Millisecond)
		ts.event(map[string]any{"type": "fraud_confirmed", "user_id": "erin"})
	}()
	_, pr = poll(t, url, token, map[string]any{"ack": acks, "returnImmediately": false, "maxEvents": 1})
	if len(pr.Sets) != 1 {
		t.Fatalf("long poll %+v", pr)
	}
	var got []verifiedSET
	acks = acks[:0]
	for jti, set := range pr.Sets {
		got = append(got, d.verify(t, set, aud))
		acks = append(acks, jti)
	}
	time.Sleep(100 * time.Millisecond) // the second SET of the outcome is queued by now
	_, pr = poll(t, url, token, map[string]any{"ack": acks, "returnImmediately": true, "maxEvents": 1})
	if len(pr.Sets) != 1 || pr.MoreAvailable {
		t.Fatalf("poll after the first ack %+v", pr)
	}
	acks = acks[:0]
	for jti, set := range pr.Sets {
		got = append(got, d.verify(t, set, aud))
		acks = append(acks, jti)
	}
	if got[0].Events[signals.EventRiskLevelChange]["current_level"] != "HIGH" || got[1].Events[signals.EventSessionRevoked] == nil {
		t.Fatalf("polled events %+v", got)
	}
	got[0].subject(t, "erin")
	got[1].subject(t, "erin")
	_, pr = poll(t, url, token, map[string]any{"ack": acks, "returnImmediately": true})
	if len(pr.Sets) != 0 || pr.MoreAvailable {
		t.Fatalf("poll after every ack %+v", pr)
	}
	if got := ts.reg.GetOrCreateCounter("riskd_signals_delivered_total").Get(); got != 3 {
		t.Fatalf("riskd_signals_delivered_total %d, want 3 acknowledged", got)
	}
}

// TestSSFReceiverDownDecisionsGoOn: with the receiver unreachable, decisions are answered as before, the
// stream's bounded queue fills and what does not fit is dropped and counted.
func TestSSFReceiverDownDecisionsGoOn(t *testing.T) {
	ts := startSSF(t, func(c *signals.Config) {
		c.StreamQueueSize = 4
		c.RetryBase, c.RetryMax = time.Hour, time.Hour
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/events"
	ln.Close() // nothing listens there
	d := discover(t, ts.base)
	if status, m := ts.admin(http.MethodPost, d.Config, map[string]any{"events_requested": allEvents,
		"delivery": map[string]any{"method": signals.DeliveryPush, "endpoint_url": down, "authorization_header": "Bearer x"}}); status != http.StatusCreated {
		t.Fatalf("create stream: %d %v", status, m)
	}
	for i := range 10 {
		ts.event(map[string]any{"type": "fraud_confirmed", "user_id": fmt.Sprintf("user-%d", i)})
		d := ts.decide(login(fmt.Sprintf("user-%d", i), ipMilton, "dev", time.Now().Add(-time.Minute)))
		if d.Decision == "" {
			t.Fatal("no decision")
		}
	}
	dropped := ts.reg.GetOrCreateCounter(`riskd_signals_dropped_total{queue="stream"}`)
	deadline := time.Now().Add(5 * time.Second)
	for dropped.Get() < 20-4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := dropped.Get(); got != 20-4 {
		t.Fatalf("dropped %d SETs, want 16 (20 made, 4 queued)", got)
	}
}

// TestSSFOktaProfile: a stream with the okta profile gets Okta's user-risk-change, with the user inside the
// event as an e-mail subject, lowercase levels, and no token needed.
func TestSSFOktaProfile(t *testing.T) {
	ts := startSSF(t, nil)
	rcv := startReceiver(t, "") // Okta authenticates SETs by their signature
	d := discover(t, ts.base)
	status, cfg := ts.admin(http.MethodPost, d.Config, map[string]any{"profile": "okta", "aud": "https://example.okta.com",
		"delivery": map[string]any{"method": signals.DeliveryPush, "endpoint_url": rcv.url}})
	if status != http.StatusCreated {
		t.Fatalf("create an okta stream: %d %v", status, cfg)
	}
	ts.event(map[string]any{"type": "fraud_confirmed", "user_id": "olga@example.com"})
	s := d.verify(t, rcv.next(), "https://example.okta.com")
	if s.SubID != nil {
		t.Fatalf("an okta SET with a top-level sub_id %v", s.SubID)
	}
	ev := s.event(t, signals.EventOktaUserRiskChange)
	user, _ := ev["subject"].(map[string]any)["user"].(map[string]any)
	if user["format"] != "email" || user["email"] != "olga@example.com" || ev["current_level"] != "high" ||
		ev["previous_level"] != "low" || ev["initiating_entity"] != "policy" || ev["event_timestamp"] == nil {
		t.Fatalf("okta event %v", ev)
	}
	rcv.none(300 * time.Millisecond) // session-revoked is not part of the profile

	for _, bad := range []map[string]any{
		{"profile": "okta", "delivery": map[string]any{"method": signals.DeliveryPoll}},
		{"profile": "okta", "events_requested": []string{signals.EventSessionRevoked}, "delivery": map[string]any{"method": signals.DeliveryPush, "endpoint_url": rcv.url}},
		{"profile": "azure", "delivery": map[string]any{"method": signals.DeliveryPush, "endpoint_url": rcv.url, "authorization_header": "Bearer x"}},
	} {
		if status, m := ts.admin(http.MethodPost, d.Config, bad); status != http.StatusBadRequest || errorField(m) == "" {
			t.Fatalf("%v: %d %v, want 400 naming a field", bad, status, m)
		}
	}
}

// TestSSFStuffingWave: a login with valid credentials in a credential-stuffing wave is reported as a
// compromised credential, and the user's level rises to MEDIUM.
func TestSSFStuffingWave(t *testing.T) {
	ts := startSSF(t, nil)
	rcv := startReceiver(t, "Bearer r")
	d := discover(t, ts.base)
	status, cfg := ts.admin(http.MethodPost, d.Config, map[string]any{"events_requested": allEvents,
		"delivery": map[string]any{"method": signals.DeliveryPush, "endpoint_url": rcv.url, "authorization_header": rcv.token}})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, cfg)
	}
	aud := cfg["aud"].(string)
	t0 := time.Now().Add(-10 * time.Minute)
	const attacker = "198.51.100.7"
	for i := range 50 {
		ev := login(fmt.Sprintf("victim-%d", i), attacker, "", t0.Add(time.Duration(i)*time.Second))
		ev["credentials_valid"] = false
		ts.decide(ev)
	}
	// The wave's later failed logins were denied: those victims' levels rose. Take those SETs first.
	rcv.drain(300 * time.Millisecond)
	dec := ts.decide(login("alice-stuffed", attacker, "", t0.Add(55*time.Second)))
	if dec.Decision != "deny" {
		t.Fatalf("the valid login in the wave: %+v", dec)
	}
	rl := d.verify(t, rcv.next(), aud)
	rl.subject(t, "alice-stuffed")
	if ev := rl.event(t, signals.EventRiskLevelChange); ev["current_level"] != "MEDIUM" || ev["previous_level"] != "LOW" {
		t.Fatalf("risk-level-change %v", ev)
	}
	cc := d.verify(t, rcv.next(), aud)
	cc.subject(t, "alice-stuffed")
	if ev := cc.event(t, signals.EventCredentialCompromise); ev["credential_type"] != "password" {
		t.Fatalf("credential-compromise %v", ev)
	}
}
