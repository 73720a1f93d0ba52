package signals

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

func newTestTransmitter(t *testing.T, configure func(*Config)) *Transmitter {
	t.Helper()
	k, err := EphemeralKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Issuer: "https://riskd.example", Key: k, Metrics: metrics.NewSet()}
	if configure != nil {
		configure(&cfg)
	}
	tx, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tx.Close)
	return tx
}

// assessAll runs signals through the risk model as the worker does, returning the events' types and levels.
func assessAll(tx *Transmitter, sigs ...engine.Signal) []string {
	var out []string
	for i := range sigs {
		for _, ev := range tx.assess(&sigs[i], tx.subjectKey(sigs[i].UserID), nil) {
			s := ev.typ[len("https://schemas.openid.net/secevent/"):]
			if ev.typ == EventRiskLevelChange {
				s += " " + ev.prev.String() + "->" + ev.cur.String()
			}
			out = append(out, s)
		}
	}
	return out
}

func TestRiskModel(t *testing.T) {
	m := rules.DefaultRiskModel()
	t0 := time.Now().Add(-48 * time.Hour).UnixNano()
	at := func(d time.Duration) int64 { return t0 + int64(d) }
	deny := engine.Signal{Kind: engine.SignalDecision, UserID: "u", Action: rules.Deny, EventType: features.Login, Model: &m}
	outcome := func(o features.OutcomeType, t int64) engine.Signal {
		return engine.Signal{Kind: engine.SignalOutcome, UserID: "u", Outcome: o, Time: t, Model: &m}
	}
	cases := []struct {
		name string
		sigs []engine.Signal
		want []string
	}{
		{"a deny raises to MEDIUM once", []engine.Signal{withTime(deny, at(0)), withTime(deny, at(time.Minute))},
			[]string{"caep/event-type/risk-level-change LOW->MEDIUM"}},
		{"fraud raises to HIGH and revokes sessions", []engine.Signal{withTime(deny, at(0)), outcome(features.FraudConfirmed, at(time.Minute))},
			[]string{"caep/event-type/risk-level-change LOW->MEDIUM", "caep/event-type/risk-level-change MEDIUM->HIGH", "caep/event-type/session-revoked"}},
		{"a passed MFA resets", []engine.Signal{outcome(features.FraudConfirmed, at(0)), outcome(features.MFAPassed, at(time.Minute)), outcome(features.MFAPassed, at(2*time.Minute))},
			[]string{"caep/event-type/risk-level-change LOW->HIGH", "caep/event-type/session-revoked", "caep/event-type/risk-level-change HIGH->LOW"}},
		{"the third failed step-up within the window raises", []engine.Signal{outcome(features.MFAFailed, at(0)), outcome(features.MFAFailed, at(time.Minute)), outcome(features.MFAFailed, at(2*time.Minute))},
			[]string{"caep/event-type/risk-level-change LOW->MEDIUM"}},
		{"failed step-ups spread beyond the window do not", []engine.Signal{outcome(features.MFAFailed, at(0)), outcome(features.MFAFailed, at(2*time.Hour)), outcome(features.MFAFailed, at(4*time.Hour))},
			nil},
		{"a level decays one step a day", []engine.Signal{outcome(features.FraudConfirmed, at(0)), withTime(deny, at(25*time.Hour))},
			[]string{"caep/event-type/risk-level-change LOW->HIGH", "caep/event-type/session-revoked"}},
		{"and to LOW after two", []engine.Signal{outcome(features.FraudConfirmed, at(0)), withTime(deny, at(49*time.Hour))},
			[]string{"caep/event-type/risk-level-change LOW->HIGH", "caep/event-type/session-revoked", "caep/event-type/risk-level-change LOW->MEDIUM"}},
		{"a valid login in a stuffing wave is a compromised credential",
			[]engine.Signal{{Kind: engine.SignalDecision, UserID: "u", Action: rules.StepUp, EventType: features.Login, Stuffing: true, CredentialsValid: true, Time: at(0), Model: &m}},
			[]string{"caep/event-type/risk-level-change LOW->MEDIUM", "risc/event-type/credential-compromise"}},
		{"a failed login in a stuffing wave is not",
			[]engine.Signal{{Kind: engine.SignalDecision, UserID: "u", Action: rules.Deny, EventType: features.Login, Stuffing: true, Time: at(0), Model: &m}},
			[]string{"caep/event-type/risk-level-change LOW->MEDIUM"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx := newTestTransmitter(t, nil)
			got := assessAll(tx, c.sigs...)
			if len(got) != len(c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %q, want %q", got, c.want)
				}
			}
		})
	}
}

func withTime(s engine.Signal, t int64) engine.Signal { s.Time = t; return s }

// TestSignalNeverBlocks: a full intake queue drops and counts, and Signal returns at once.
func TestSignalNeverBlocks(t *testing.T) {
	reg := metrics.NewSet()
	tx := newTestTransmitter(t, func(c *Config) { c.QueueSize = 2; c.Metrics = reg })
	tx.Close() // no worker drains the queue
	start := time.Now()
	for range 10 {
		tx.Signal(engine.Signal{Kind: engine.SignalOutcome, UserID: "u", Outcome: features.FraudConfirmed})
	}
	if time.Since(start) > time.Second {
		t.Fatal("Signal blocked on a full queue")
	}
	if got := reg.GetOrCreateCounter(`riskd_signals_dropped_total{queue="intake"}`).Get(); got != 8 {
		t.Fatalf("dropped %d, want 8", got)
	}
}

func TestStreamValidation(t *testing.T) {
	tx := newTestTransmitter(t, nil)
	push := func(url, auth string, events ...string) *StreamRequest {
		return &StreamRequest{EventsRequested: &events, Delivery: &Delivery{Method: DeliveryPush, EndpointURL: url, AuthorizationHeader: auth}}
	}
	cases := []struct {
		name  string
		req   *StreamRequest
		field string
	}{
		{"unknown event type", push("https://rcv.example/e", "Bearer t", "https://schemas.openid.net/secevent/caep/event-type/nope"), "events_requested"},
		{"http off loopback", push("http://rcv.example/e", "Bearer t", EventSessionRevoked), "delivery.endpoint_url"},
		{"no endpoint", push("", "Bearer t"), "delivery.endpoint_url"},
		{"credentials in the URL", push("https://u:p@rcv.example/e", "Bearer t"), "delivery.endpoint_url"},
		{"no token", push("https://rcv.example/e", ""), "delivery.authorization_header"},
		{"a token of two lines", push("https://rcv.example/e", "Bearer t\r\nX-Other: 1"), "delivery.authorization_header"},
		{"no delivery", &StreamRequest{}, "delivery"},
		{"unknown method", &StreamRequest{Delivery: &Delivery{Method: "urn:example:smoke-signals", AuthorizationHeader: "x"}}, "delivery.method"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tx.CreateStream(c.req)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, ErrInvalidStream) {
				t.Fatalf("error %v, want one naming %s", err, c.field)
			}
		})
	}
	if len(tx.Streams()) != 0 {
		t.Fatal("a refused stream was kept")
	}
	for _, ok := range []string{"https://rcv.example/e", "http://127.0.0.1:9/e", "http://[::1]:9/e", "http://localhost/e"} {
		if _, err := tx.CreateStream(push(ok, "Bearer t", EventSessionRevoked)); err != nil {
			t.Fatalf("%s: %v", ok, err)
		}
	}
}

// TestForgetPurgesQueuedEvents: an erasure takes the user's SETs off every queue, and their level.
func TestForgetPurgesQueuedEvents(t *testing.T) {
	tx := newTestTransmitter(t, nil)
	events := []string{EventSessionRevoked}
	cfg, err := tx.CreateStream(&StreamRequest{EventsRequested: &events, Delivery: &Delivery{Method: DeliveryPoll, AuthorizationHeader: "Bearer p"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"erased", "kept", "erased"} {
		tx.Signal(engine.Signal{Kind: engine.SignalOutcome, UserID: u, Outcome: features.FraudConfirmed, Time: time.Now().UnixNano()})
	}
	s, _ := tx.stream(cfg.StreamID)
	deadline := time.Now().Add(5 * time.Second)
	for queuedLen(s) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := tx.Forget("erased"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) != 1 || s.queue[0].subject != "kept" {
		t.Fatalf("queue after erasure holds %d SETs", len(s.queue))
	}
	tx.riskMu.Lock()
	defer tx.riskMu.Unlock()
	if tx.risk[tx.subjectKey("erased")] != nil || tx.risk[tx.subjectKey("kept")] == nil {
		t.Fatal("the erased user's risk level is still held, or the other's is gone")
	}
}

func queuedLen(s *stream) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

func TestKeys(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(ec)
	k, err := ParseKey(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	if err != nil || k.Alg != "ES256" || k.ID == "" {
		t.Fatalf("EC key: %+v %v", k, err)
	}
	k2, _ := ParseKey(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	if k2.ID != k.ID {
		t.Fatal("the kid of one key differs between loads")
	}
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	pk8, _ := x509.MarshalPKCS8PrivateKey(rk)
	r, err := ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk8}))
	if err != nil || r.Alg != "RS256" {
		t.Fatalf("RSA key: %+v %v", r, err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der384, _ := x509.MarshalECPrivateKey(p384)
	if _, err := ParseKey(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der384})); !errors.Is(err, ErrKey) {
		t.Fatalf("a P-384 key: %v, want refused", err)
	}
	if _, err := ParseKey([]byte("not pem")); !errors.Is(err, ErrKey) {
		t.Fatalf("garbage: %v", err)
	}

	// Rotation: the JWKS publishes the new key and the old one.
	tx := newTestTransmitter(t, func(c *Config) { c.Key, c.OldKeys = r, []*Key{k} })
	jwks := tx.JWKS()
	if len(jwks.Keys) != 2 || jwks.Keys[0].KeyID != r.ID || jwks.Keys[1].KeyID != k.ID || !jwks.Keys[1].IsPublic() {
		t.Fatalf("JWKS %+v", jwks.Keys)
	}
}

func TestWebhookConfigAndTriggers(t *testing.T) {
	good := Webhook{URL: "https://hooks.example/riskd", Secret: []byte("0123456789abcdef"), Triggers: []string{"decision:deny", "rule:tor_exit", "outcome:mfa_failed"}}
	for _, c := range []struct {
		change func(*Webhook)
		field  string
	}{
		{func(w *Webhook) { w.URL = "http://hooks.example/riskd" }, "webhooks[0].url"},
		{func(w *Webhook) { w.Secret = []byte("short") }, "webhooks[0].secret"},
		{func(w *Webhook) { w.Triggers = nil }, "webhooks[0].triggers"},
		{func(w *Webhook) { w.Triggers = []string{"decision:allow"} }, "webhooks[0].triggers"},
		{func(w *Webhook) { w.Triggers = []string{"outcome:login_failed"} }, "webhooks[0].triggers"},
	} {
		w := good
		c.change(&w)
		var fe *FieldError
		if err := checkWebhook(0, &w); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: %v, want an error naming %s", w, err, c.field)
		}
	}
	if err := checkWebhook(0, &good); err != nil {
		t.Fatal(err)
	}
	deny := engine.Signal{Kind: engine.SignalDecision, Action: rules.Deny}
	stepUpTor := engine.Signal{Kind: engine.SignalDecision, Action: rules.StepUp, NumRules: 2, Rules: [engine.MaxSignalRules]string{"new_device", "tor_exit"}}
	stepUp := engine.Signal{Kind: engine.SignalDecision, Action: rules.StepUp, NumRules: 1, Rules: [engine.MaxSignalRules]string{"new_device"}}
	mfa := engine.Signal{Kind: engine.SignalOutcome, Outcome: features.MFAFailed}
	fraud := engine.Signal{Kind: engine.SignalOutcome, Outcome: features.FraudConfirmed}
	for _, c := range []struct {
		s    engine.Signal
		want bool
	}{{deny, true}, {stepUpTor, true}, {stepUp, false}, {mfa, true}, {fraud, false}} {
		if got := matches(good.Triggers, &c.s); got != c.want {
			t.Errorf("%+v: matches %v", c.s, got)
		}
	}
}

func TestSubjectFormats(t *testing.T) {
	opaque := newTestTransmitter(t, nil)
	if got := opaque.subID("ana"); len(got) != 2 || got["format"] != "opaque" || got["id"] != "ana" {
		t.Fatalf("opaque sub_id %v", got)
	}
	issSub := newTestTransmitter(t, func(c *Config) { c.SubjectIssuer = "https://idp.example" })
	if got := issSub.subID("ana"); len(got) != 3 || got["format"] != "iss_sub" || got["iss"] != "https://idp.example" || got["sub"] != "ana" {
		t.Fatalf("iss_sub sub_id %v", got)
	}
	if got := issSub.oktaSubject("ana@example.com"); got["format"] != "email" || got["email"] != "ana@example.com" {
		t.Fatalf("okta subject %v", got)
	}
}

// TestForgetDropsQueuedSignals: signals about a user still in the intake queue when the user is erased make
// no SET; a signal about the user after the erasure does.
func TestForgetDropsQueuedSignals(t *testing.T) {
	tx := newTestTransmitter(t, nil)
	events := []string{EventSessionRevoked}
	cfg, err := tx.CreateStream(&StreamRequest{EventsRequested: &events, Delivery: &Delivery{Method: DeliveryPoll, AuthorizationHeader: "Bearer p"}})
	if err != nil {
		t.Fatal(err)
	}
	tx.Close() // no worker: the test takes the queue itself, after the erasure
	fraud := func(u string) engine.Signal {
		return engine.Signal{Kind: engine.SignalOutcome, UserID: u, Outcome: features.FraudConfirmed, Time: time.Now().UnixNano()}
	}
	tx.Signal(fraud("erased"))
	tx.Signal(fraud("kept"))
	tx.Signal(fraud("erased"))
	if err := tx.Forget("erased"); err != nil {
		t.Fatal(err)
	}
	tx.Signal(fraud("erased")) // a new event after the erasure
	for len(tx.in) > 0 {       // as the worker does: each signal taken in the same intake, its strings aliasing it
		tx.taking = <-tx.in
		tx.take(&tx.taking)
	}
	s, _ := tx.stream(cfg.StreamID)
	var subjects []string
	for _, q := range s.queue {
		subjects = append(subjects, q.subject)
	}
	if len(subjects) != 2 || subjects[0] != "kept" || subjects[1] != "erased" {
		t.Fatalf("SETs queued for %q, want kept, then erased once (the event after the erasure)", subjects)
	}
}

// TestSignalCopiesTheRequestStrings: the signal's user id and tenant alias the request, which is reused once
// Signal returns; the queued signal holds their bytes, and strings longer than the room it keeps are copied.
func TestSignalCopiesTheRequestStrings(t *testing.T) {
	tx := newTestTransmitter(t, nil)
	tx.Close() // no worker: the test takes the queue itself
	buf := []byte("victim-50acme")
	long := strings.Repeat("u", intakeText+1)
	tx.Signal(engine.Signal{Kind: engine.SignalDecision, UserID: unsafe.String(&buf[0], 9), Tenant: unsafe.String(&buf[9], 4)})
	tx.Signal(engine.Signal{Kind: engine.SignalDecision, UserID: long, Tenant: "t"})
	tx.Signal(engine.Signal{Kind: engine.SignalDecision, UserID: "u", Tenant: long})
	copy(buf, "XXXXXXXXXXXXX") // the request buffer, reused
	for _, want := range [][2]string{{"victim-50", "acme"}, {long, "t"}, {"u", long}} {
		in := <-tx.in
		in.strings()
		if in.sig.UserID != want[0] || in.sig.Tenant != want[1] {
			t.Fatalf("queued user %.20q tenant %.20q, want %.20q and %.20q", in.sig.UserID, in.sig.Tenant, want[0], want[1])
		}
	}
}
