package signals

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/VictoriaMetrics/metrics"
	"github.com/dchest/siphash"
	"github.com/go-jose/go-jose/v4"

	"github.com/riskd/riskd/engine"
)

// Config configures a Transmitter. Zero values take the defaults in parentheses.
type Config struct {
	// Issuer is the iss of every SET and the base URL of the endpoints discovery names (required).
	Issuer string
	// Key signs the SETs (required); OldKeys are published in the JWKS beside it and sign nothing, so that
	// receivers still verify SETs signed before a rotation.
	Key     *Key
	OldKeys []*Key
	// SubjectIssuer, when set, makes sub_id an iss_sub subject with this iss (the identity provider's issuer);
	// otherwise sub_id is opaque.
	SubjectIssuer string

	QueueSize       int           // signals waiting for the worker; more are dropped (4096)
	StreamQueueSize int           // SETs waiting per stream, for push or until a poll acknowledges them (1024)
	MaxStreams      int           // (16)
	RetryBase       time.Duration // first retry delay of a push; doubles per attempt (500 ms)
	RetryMax        time.Duration // longest retry delay (30 s)
	MaxAttempts     int           // push attempts of one SET before it is dropped (8)
	PushTimeout     time.Duration // one push request (5 s)
	PollWait        time.Duration // longest wait of a poll that asks not to return immediately (5 s)

	// DataDir, when set, keeps the streams and the queued SETs and webhook bodies across restarts (persist.go).
	DataDir string
	// Webhooks are signed JSON webhooks fed by the same signals (webhook.go).
	Webhooks []Webhook

	Metrics    *metrics.Set // where the counters are registered; nil = a set of its own
	Logger     *slog.Logger
	HTTPClient *http.Client // push requests; nil = one with PushTimeout
}

// Transmitter is the SSF transmitter: an engine.SignalSink, the streams and their delivery.
type Transmitter struct {
	cfg    Config
	log    *slog.Logger
	signer *signer
	jwks   jose.JSONWebKeySet
	client *http.Client
	in     chan intake
	seq    atomic.Uint64 // signals numbered for the intake queue (see Forget)
	hashK0 uint64
	hashK1 uint64

	riskMu sync.Mutex
	risk   map[uint64]*userRisk
	erased map[uint64]uint64 // subject key -> the last signal number an erasure of the user covers
	events []event           // the worker's buffer of the events a signal makes, reused
	taking intake            // the signal the worker is taking; its strings alias this copy's bytes

	mu      sync.Mutex
	streams map[string]*stream
	closed  bool

	webhooks []*webhook
	dirty    atomic.Bool // something persisted changed since the last save
	saveMu   sync.Mutex

	stop chan struct{}
	wg   sync.WaitGroup

	dropped      *metrics.Counter // signals dropped for a full intake queue
	streamDrops  *metrics.Counter // SETs dropped for a full stream queue
	delivered    *metrics.Counter
	retries      *metrics.Counter
	failed       *metrics.Counter // SETs given up on: refused by the receiver, or out of attempts
	pollErrors   *metrics.Counter // SETs a polling receiver reported errors for
	signalsTaken *metrics.Counter
}

// New returns a Transmitter and starts its worker; Close stops it.
func New(cfg Config) (*Transmitter, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("signals: Issuer is required")
	}
	if cfg.Key == nil {
		return nil, fmt.Errorf("%w: Key is required", ErrKey)
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	cfg.QueueSize = orInt(cfg.QueueSize, 4096)
	cfg.StreamQueueSize = orInt(cfg.StreamQueueSize, 1024)
	cfg.MaxStreams = orInt(cfg.MaxStreams, 16)
	cfg.MaxAttempts = orInt(cfg.MaxAttempts, 8)
	cfg.RetryBase = orDuration(cfg.RetryBase, 500*time.Millisecond)
	cfg.RetryMax = orDuration(cfg.RetryMax, 30*time.Second)
	cfg.PushTimeout = orDuration(cfg.PushTimeout, 5*time.Second)
	cfg.PollWait = orDuration(cfg.PollWait, 5*time.Second)
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	sg, err := newSigner(cfg.Key)
	if err != nil {
		return nil, err
	}
	t := &Transmitter{cfg: cfg, log: cfg.Logger, signer: sg, client: cfg.HTTPClient,
		in: make(chan intake, cfg.QueueSize), risk: map[uint64]*userRisk{}, erased: map[uint64]uint64{}, streams: map[string]*stream{},
		stop: make(chan struct{})}
	if t.client == nil {
		t.client = &http.Client{Timeout: cfg.PushTimeout}
	}
	t.jwks.Keys = append(t.jwks.Keys, cfg.Key.jwk())
	for _, k := range cfg.OldKeys {
		if k.ID != cfg.Key.ID {
			t.jwks.Keys = append(t.jwks.Keys, k.jwk())
		}
	}
	var seed [16]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	t.hashK0, t.hashK1 = binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])
	m := cfg.Metrics
	t.dropped = m.NewCounter(`riskd_signals_dropped_total{queue="intake"}`)
	t.streamDrops = m.NewCounter(`riskd_signals_dropped_total{queue="stream"}`)
	t.delivered = m.NewCounter("riskd_signals_delivered_total")
	t.retries = m.NewCounter("riskd_signals_retries_total")
	t.failed = m.NewCounter("riskd_signals_failed_total")
	t.pollErrors = m.NewCounter("riskd_signals_poll_errors_total")
	t.signalsTaken = m.NewCounter("riskd_signals_received_total")
	m.NewGauge("riskd_signals_queued", func() float64 { return float64(len(t.in)) })
	if err := t.startWebhooks(); err != nil {
		return nil, err
	}
	if cfg.DataDir != "" {
		if err := t.load(); err != nil {
			t.cfg.DataDir = "" // stop what load started without overwriting the file it could not read
			t.Close()
			return nil, err
		}
		t.wg.Add(1)
		go t.flush()
	}
	for _, h := range t.webhooks {
		t.wg.Add(1)
		go t.deliverWebhook(h)
	}
	t.wg.Add(1)
	go t.work()
	return t, nil
}

func orInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func orDuration(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// Signal queues s for the worker, or drops and counts it when the queue is full: it never blocks (the engine
// calls it on the request path). s's strings alias the request; the queue holds copies of their bytes, so that
// a signal costs no allocation.
func (t *Transmitter) Signal(s engine.Signal) {
	select {
	case t.in <- newIntake(s, t.seq.Add(1)):
	default:
		t.dropped.Inc()
	}
}

// newIntake is s numbered seq, its strings copied into the intake.
func newIntake(s engine.Signal, seq uint64) intake {
	in := intake{sig: s, seq: seq}
	in.sig.UserID, in.sig.Tenant = "", ""
	in.userLen = copyText(in.text[:], s.UserID, &in.sig.UserID)
	in.tenantLen = copyText(in.text[in.userLen:], s.Tenant, &in.sig.Tenant)
	return in
}

// copyText copies v into buf and returns its length there, or, when it does not fit (longer than the decide
// API allows), sets *kept to a copy of it and returns 0.
func copyText(buf []byte, v string, kept *string) int {
	if len(v) > len(buf) {
		*kept = strings.Clone(v)
		return 0
	}
	return copy(buf, v)
}

// intakeText is the room an intake keeps for a signal's user id and tenant: the longest the decide API takes.
const intakeText = 256 + 64

// intake is a signal in the intake queue, numbered so that an erasure can tell the signals that came before
// it (still queued: dropped) from those that came after (a new event about the user: kept). The signal's
// user id and tenant are in text (unless too long for it, then in the signal as copies).
type intake struct {
	sig                engine.Signal
	seq                uint64
	userLen, tenantLen int
	text               [intakeText]byte
}

// strings points the signal's user id and tenant at in's bytes, where they were copied. The strings live as
// long as in is not overwritten: what keeps them longer copies them.
func (in *intake) strings() {
	if in.userLen > 0 {
		in.sig.UserID = unsafe.String(&in.text[0], in.userLen)
	}
	if in.tenantLen > 0 {
		in.sig.Tenant = unsafe.String(&in.text[in.userLen], in.tenantLen)
	}
}

// Close stops the worker and the push deliveries; what is still queued is lost (the queue is in memory).
func (t *Transmitter) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	close(t.stop)
	t.mu.Unlock()
	t.wg.Wait()
	if t.cfg.DataDir != "" {
		if err := t.save(); err != nil {
			t.log.Error("signals: writing the state file", "err", err)
		}
	}
}

// Issuer returns the transmitter's issuer.
func (t *Transmitter) Issuer() string { return t.cfg.Issuer }

// JWKS returns the public keys receivers verify SETs with: the signing key, then the old ones.
func (t *Transmitter) JWKS() jose.JSONWebKeySet { return t.jwks }

// Discovery returns the transmitter configuration metadata (SSF 1.0 section 7.1), served at
// /.well-known/ssf-configuration.
func (t *Transmitter) Discovery() map[string]any {
	base := t.cfg.Issuer
	return map[string]any{
		"spec_version":               "1_0",
		"issuer":                     base,
		"jwks_uri":                   base + PathJWKS,
		"delivery_methods_supported": []string{DeliveryPush, DeliveryPoll},
		"configuration_endpoint":     base + PathStream,
		"status_endpoint":            base + PathStatus,
		"add_subject_endpoint":       base + PathSubjectsAdd,
		"remove_subject_endpoint":    base + PathSubjectsRemove,
		"verification_endpoint":      base + PathVerify,
		"authorization_schemes":      []map[string]string{{"spec_urn": "urn:ietf:rfc:6750"}},
		"default_subjects":           "ALL",
		"critical_subject_members":   []string{},
	}
}

// Endpoint paths, under the issuer.
const (
	PathDiscovery      = "/.well-known/ssf-configuration"
	PathJWKS           = "/ssf/jwks.json"
	PathStream         = "/ssf/stream"
	PathStatus         = "/ssf/status"
	PathSubjectsAdd    = "/ssf/subjects:add"
	PathSubjectsRemove = "/ssf/subjects:remove"
	PathVerify         = "/ssf/verify"
	PathPoll           = "/ssf/poll/" // + stream id
)

// work turns signals into events and queues their SETs on the streams, until Close.
func (t *Transmitter) work() {
	defer t.wg.Done()
	for {
		select {
		case <-t.stop:
			return
		case t.taking = <-t.in:
			t.take(&t.taking)
		}
	}
}

// take turns one signal into events and queues them, unless an erasure of its user came after it.
func (t *Transmitter) take(in *intake) {
	t.signalsTaken.Inc()
	in.strings()
	s := &in.sig
	key := t.subjectKey(s.UserID)
	t.riskMu.Lock()
	if until, ok := t.erased[key]; ok && in.seq <= until {
		t.riskMu.Unlock()
		return
	}
	t.pruneErasedLocked(in.seq)
	evs := t.assess(s, key, t.events[:0])
	t.events = evs[:0]
	t.riskMu.Unlock()
	for i := range evs {
		t.dispatch(&evs[i])
	}
	t.notifyWebhooks(s)
}

// erasedSlack is how far the signal numbers must have moved past an erasure before it is forgotten: signals
// numbered before it but still being sent (at most one per request in flight) or queued are all taken by then.
const erasedSlack = 1 << 20

func (t *Transmitter) pruneErasedLocked(seq uint64) {
	for k, until := range t.erased {
		if seq > until+uint64(cap(t.in))+erasedSlack {
			delete(t.erased, k)
		}
	}
}

// subjectKey is a keyed hash of a user id: what riskd holds of a user in its risk levels and streams'
// removed subjects, instead of the id.
func (t *Transmitter) subjectKey(id string) uint64 {
	return siphash.Hash(t.hashK0, t.hashK1, unsafe.Slice(unsafe.StringData(id), len(id))) // read, not kept: no copy
}

// subID is the sub_id of a user.
func (t *Transmitter) subID(user string) map[string]string {
	if t.cfg.SubjectIssuer != "" {
		return map[string]string{"format": "iss_sub", "iss": t.cfg.SubjectIssuer, "sub": user}
	}
	return map[string]string{"format": "opaque", "id": user}
}

// dispatch signs ev for every stream that wants it and queues it there.
func (t *Transmitter) dispatch(ev *event) {
	key := t.subjectKey(ev.subject)
	for _, s := range t.streamList() {
		t.dispatchTo(s, ev, key)
		if ev.typ == EventRiskLevelChange {
			okta := *ev // its shape for Okta's streams
			okta.typ = EventOktaUserRiskChange
			t.dispatchTo(s, &okta, key)
		}
	}
}

func (t *Transmitter) dispatchTo(s *stream, ev *event, key uint64) {
	aud, profile, ok := s.wants(ev.typ, key)
	if !ok {
		return
	}
	subID := t.subID(ev.subject)
	if profile == ProfileOkta {
		subID = nil // Okta reads the subject inside the event
	}
	token, jti, err := t.signer.sign(t.cfg.Issuer, aud, subID, ev.typ, t.claims(ev), time.Now())
	if err != nil {
		t.log.Error("signing a security event token", "err", err)
		return
	}
	t.enqueue(s, queued{jti: jti, token: token, subject: strings.Clone(ev.subject)}) // kept past the signal
}

func (t *Transmitter) streamList() []*stream {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := make([]*stream, 0, len(t.streams))
	for _, s := range t.streams {
		list = append(list, s)
	}
	return list
}

func (t *Transmitter) enqueue(s *stream, q queued) {
	if !s.push(q, t.cfg.StreamQueueSize) {
		t.streamDrops.Inc()
	}
}

// Forget purges what the transmitter holds of a user (an erasure): the SETs and webhook bodies about them still
// queued, on disk too, and their risk level.
//
// Signals about the user still in the intake queue are dropped when the worker takes them; those that come
// after the erasure (a new event about the user) are taken as usual.
func (t *Transmitter) Forget(userID string) error {
	key := t.subjectKey(userID)
	t.riskMu.Lock()
	delete(t.risk, key)
	t.erased[key] = t.seq.Load()
	t.riskMu.Unlock()
	for _, s := range t.streamList() {
		s.purge(userID)
	}
	for _, h := range t.webhooks {
		h.purge(userID)
	}
	if t.cfg.DataDir != "" {
		return t.save()
	}
	return nil
}
