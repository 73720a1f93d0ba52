package signals

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the stream management API.
var (
	// ErrInvalidStream: a stream configuration or request riskd refuses; a *FieldError names the field.
	ErrInvalidStream = errors.New("invalid stream request")
	// ErrStreamNotFound: no stream has the id.
	ErrStreamNotFound = errors.New("no such stream")
	// ErrTooManyStreams: the transmitter holds Config.MaxStreams streams already.
	ErrTooManyStreams = errors.New("too many streams")
	// ErrUnauthorized: a poll without the stream's token.
	ErrUnauthorized = errors.New("the stream's token is required")
	// ErrClosed: the transmitter is closed.
	ErrClosed = errors.New("transmitter closed")
)

// FieldError is an invalid stream request, naming the field at fault.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }
func (e *FieldError) Unwrap() error { return ErrInvalidStream }

func fieldError(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Stream statuses (SSF 1.0 section 8.1.2).
const (
	StatusEnabled  = "enabled"
	StatusPaused   = "paused"
	StatusDisabled = "disabled"
)

// Delivery is a stream's delivery method. AuthorizationHeader is the stream's token: push sends it to the
// receiver as Authorization, a polling receiver must present it. It is never written back.
type Delivery struct {
	Method              string `json:"method"`
	EndpointURL         string `json:"endpoint_url,omitempty"`
	AuthorizationHeader string `json:"authorization_header,omitempty"`
}

// StreamConfig is a stream's configuration as the management API reads and writes it.
type StreamConfig struct {
	StreamID                string   `json:"stream_id"`
	Iss                     string   `json:"iss"`
	Aud                     string   `json:"aud"`
	EventsSupported         []string `json:"events_supported"`
	EventsRequested         []string `json:"events_requested"`
	EventsDelivered         []string `json:"events_delivered"`
	Delivery                Delivery `json:"delivery"`
	Description             string   `json:"description,omitempty"`
	MinVerificationInterval int      `json:"min_verification_interval"`
	// Profile "okta" shapes the stream for Okta's SSF receiver (okta.go); "" is plain SSF 1.0.
	Profile string `json:"profile,omitempty"`
}

// StreamRequest is a create or update request: the fields given replace the stream's.
type StreamRequest struct {
	StreamID        string    `json:"stream_id"`
	Aud             *string   `json:"aud"`
	EventsRequested *[]string `json:"events_requested"`
	Delivery        *Delivery `json:"delivery"`
	Description     *string   `json:"description"`
	Profile         *string   `json:"profile"`
}

// queued is a signed SET waiting on a stream. subject is the raw user id, kept only until delivery so that
// an erasure can purge it.
type queued struct {
	jti      string
	token    string
	subject  string
	attempts int
}

type stream struct {
	mu      sync.Mutex
	cfg     StreamConfig
	status  string
	reason  string
	removed map[uint64]struct{} // keyed hashes of the subjects removed from the stream
	queue   []queued
	changed chan struct{} // closed and replaced when the queue or the status changes
	stop    chan struct{} // closed when the stream is deleted
	dirty   *atomic.Bool  // the transmitter's: set when anything persisted changes (persist.go)
}

func (s *stream) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
	s.dirty.Store(true)
}

// wants reports whether the stream takes events of type typ about the subject with key, and its audience.
func (s *stream) wants(typ string, key uint64) (aud, profile string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == StatusDisabled || !slices.Contains(s.cfg.EventsDelivered, typ) {
		return "", "", false
	}
	if _, gone := s.removed[key]; gone {
		return "", "", false
	}
	return s.cfg.Aud, s.cfg.Profile, true
}

// push appends q unless the queue holds max SETs already.
func (s *stream) push(q queued, max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) >= max {
		return false
	}
	s.queue = append(s.queue, q)
	s.notifyLocked()
	return true
}

// remove takes the SET jti off the queue, and reports whether it was there.
func (s *stream) removeLocked(jti string) bool {
	for i := range s.queue {
		if s.queue[i].jti == jti {
			s.queue = slices.Delete(s.queue, i, i+1)
			s.dirty.Store(true)
			return true
		}
	}
	return false
}

func (s *stream) purge(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = slices.DeleteFunc(s.queue, func(q queued) bool { return q.subject == user })
	s.dirty.Store(true)
}

// validate checks cfg and fills what derives from it.
func (t *Transmitter) validate(cfg *StreamConfig) error {
	d := &cfg.Delivery
	switch d.Method {
	case DeliveryPush:
		if err := checkEndpoint(d.EndpointURL); err != nil {
			return err
		}
	case DeliveryPoll:
		d.EndpointURL = t.cfg.Issuer + PathPoll + cfg.StreamID
	case "":
		return fieldError("delivery.method", "missing: %s (push) or %s (poll)", DeliveryPush, DeliveryPoll)
	default:
		return fieldError("delivery.method", "%q is not supported: %s (push) or %s (poll)", d.Method, DeliveryPush, DeliveryPoll)
	}
	switch cfg.Profile {
	case "":
	case ProfileOkta:
		if d.Method != DeliveryPush {
			return fieldError("delivery.method", "the okta profile pushes (%s): Okta does not poll", DeliveryPush)
		}
		if cfg.EventsRequested == nil {
			cfg.EventsRequested = []string{EventOktaUserRiskChange}
		}
		for _, e := range cfg.EventsRequested {
			if e != EventOktaUserRiskChange {
				return fieldError("events_requested", "the okta profile sends %s only", EventOktaUserRiskChange)
			}
		}
	default:
		return fieldError("profile", "%q: want okta, or leave it out", cfg.Profile)
	}
	if strings.TrimSpace(d.AuthorizationHeader) == "" && cfg.Profile != ProfileOkta {
		return fieldError("delivery.authorization_header", "missing: the stream's token (e.g. \"Bearer …\"), sent to a push receiver, presented by a polling one")
	}
	if len(d.AuthorizationHeader) > 4096 || strings.ContainsAny(d.AuthorizationHeader, "\r\n") {
		return fieldError("delivery.authorization_header", "must be one line of at most 4096 bytes")
	}
	for _, e := range cfg.EventsRequested {
		if !supported(e) {
			return fieldError("events_requested", "unknown event type %q; supported: %s", e, strings.Join(SupportedEvents, ", "))
		}
	}
	if len(cfg.Description) > 1024 {
		return fieldError("description", "at most 1024 bytes")
	}
	if len(cfg.Aud) > 1024 {
		return fieldError("aud", "at most 1024 bytes")
	}
	cfg.EventsSupported = SupportedEvents
	// SSF writes both lists as arrays, empty ones included: never null.
	if cfg.EventsRequested == nil {
		cfg.EventsRequested = []string{}
	}
	cfg.EventsDelivered = []string{}
	for _, e := range SupportedEvents {
		if slices.Contains(cfg.EventsRequested, e) {
			cfg.EventsDelivered = append(cfg.EventsDelivered, e)
		}
	}
	return nil
}

// checkEndpoint accepts an absolute https URL, or http to a loopback address (a receiver on the same host).
func checkEndpoint(raw string) error {
	const field = "delivery.endpoint_url"
	if raw == "" {
		return fieldError(field, "missing: the receiver's URL for push delivery")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fieldError(field, "%q is not an absolute URL without credentials or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopbackHost(u.Hostname()) {
			return nil
		}
		return fieldError(field, "http is allowed only to a loopback address; use https")
	}
	return fieldError(field, "scheme %q: use https", u.Scheme)
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (t *Transmitter) apply(cfg *StreamConfig, req *StreamRequest) {
	if req.Aud != nil {
		cfg.Aud = *req.Aud
	}
	if req.EventsRequested != nil {
		cfg.EventsRequested = slices.Clone(*req.EventsRequested)
	}
	if req.Delivery != nil {
		auth := cfg.Delivery.AuthorizationHeader
		cfg.Delivery = *req.Delivery
		if cfg.Delivery.AuthorizationHeader == "" {
			cfg.Delivery.AuthorizationHeader = auth // an update need not repeat the token
		}
	}
	if req.Description != nil {
		cfg.Description = *req.Description
	}
	if req.Profile != nil {
		cfg.Profile = *req.Profile
	}
}

// CreateStream creates a stream, enabled, and returns its configuration.
func (t *Transmitter) CreateStream(req *StreamRequest) (StreamConfig, error) {
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return StreamConfig{}, err
	}
	cfg := StreamConfig{StreamID: hex.EncodeToString(id[:]), Iss: t.cfg.Issuer, MinVerificationInterval: 0}
	t.apply(&cfg, req)
	if req.Delivery == nil {
		return StreamConfig{}, fieldError("delivery", "missing: give delivery.method and its settings")
	}
	if cfg.Aud == "" {
		cfg.Aud = cfg.StreamID
	}
	if err := t.validate(&cfg); err != nil {
		return StreamConfig{}, err
	}
	s := t.newStream(cfg, StatusEnabled)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return StreamConfig{}, ErrClosed
	case len(t.streams) >= t.cfg.MaxStreams:
		return StreamConfig{}, fmt.Errorf("%w: at most %d", ErrTooManyStreams, t.cfg.MaxStreams)
	}
	t.addStreamLocked(s)
	return redact(cfg), nil
}

func (t *Transmitter) newStream(cfg StreamConfig, status string) *stream {
	return &stream{cfg: cfg, status: status, removed: map[uint64]struct{}{}, changed: make(chan struct{}),
		stop: make(chan struct{}), dirty: &t.dirty}
}

// addStreamLocked adds s and starts its push delivery; t.mu is held.
func (t *Transmitter) addStreamLocked(s *stream) {
	t.streams[s.cfg.StreamID] = s
	t.dirty.Store(true)
	if s.cfg.Delivery.Method == DeliveryPush {
		t.wg.Add(1)
		go t.deliver(s)
	}
}

func redact(c StreamConfig) StreamConfig {
	c.Delivery.AuthorizationHeader = ""
	return c
}

func (t *Transmitter) stream(id string) (*stream, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.streams[id]
	if s == nil {
		return nil, fmt.Errorf("%w: %q", ErrStreamNotFound, id)
	}
	return s, nil
}

// Stream returns the configuration of stream id.
func (t *Transmitter) Stream(id string) (StreamConfig, error) {
	s, err := t.stream(id)
	if err != nil {
		return StreamConfig{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return redact(s.cfg), nil
}

// Streams returns every stream's configuration, by id.
func (t *Transmitter) Streams() []StreamConfig {
	list := t.streamList()
	out := make([]StreamConfig, 0, len(list))
	for _, s := range list {
		s.mu.Lock()
		out = append(out, redact(s.cfg))
		s.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b StreamConfig) int { return strings.Compare(a.StreamID, b.StreamID) })
	return out
}

// UpdateStream changes stream req.StreamID: the fields req gives replace the stream's. The delivery method
// cannot change (delete the stream and create another).
func (t *Transmitter) UpdateStream(req *StreamRequest) (StreamConfig, error) {
	s, err := t.stream(req.StreamID)
	if err != nil {
		return StreamConfig{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.cfg
	t.apply(&cfg, req)
	if cfg.Delivery.Method != s.cfg.Delivery.Method {
		return StreamConfig{}, fieldError("delivery.method", "cannot change from %s; delete the stream and create another", s.cfg.Delivery.Method)
	}
	if err := t.validate(&cfg); err != nil {
		return StreamConfig{}, err
	}
	s.cfg = cfg
	s.dirty.Store(true)
	return redact(cfg), nil
}

// DeleteStream deletes stream id and what it holds queued.
func (t *Transmitter) DeleteStream(id string) error {
	t.mu.Lock()
	s := t.streams[id]
	delete(t.streams, id)
	t.mu.Unlock()
	if s == nil {
		return fmt.Errorf("%w: %q", ErrStreamNotFound, id)
	}
	close(s.stop)
	t.dirty.Store(true)
	return nil
}

// StreamStatus is a stream's status as the status endpoint reads and writes it.
type StreamStatus struct {
	StreamID string `json:"stream_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

// Status returns the status of stream id.
func (t *Transmitter) Status(id string) (StreamStatus, error) {
	s, err := t.stream(id)
	if err != nil {
		return StreamStatus{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return StreamStatus{StreamID: id, Status: s.status, Reason: s.reason}, nil
}

// SetStatus sets a stream's status: paused holds its SETs, disabled drops them and takes no more.
func (t *Transmitter) SetStatus(st StreamStatus) (StreamStatus, error) {
	switch st.Status {
	case StatusEnabled, StatusPaused, StatusDisabled:
	default:
		return StreamStatus{}, fieldError("status", "%q: want enabled, paused or disabled", st.Status)
	}
	if len(st.Reason) > 1024 {
		return StreamStatus{}, fieldError("reason", "at most 1024 bytes")
	}
	s, err := t.stream(st.StreamID)
	if err != nil {
		return StreamStatus{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.reason = st.Status, st.Reason
	if st.Status == StatusDisabled {
		s.queue = nil
	}
	s.notifyLocked()
	return st, nil
}

// Subject is a subject as the subject endpoints take it (RFC 9493): opaque {id} or iss_sub {iss, sub}.
type Subject struct {
	Format string `json:"format"`
	ID     string `json:"id,omitempty"`
	Iss    string `json:"iss,omitempty"`
	Sub    string `json:"sub,omitempty"`
}

func subjectUser(sub *Subject) (string, error) {
	switch sub.Format {
	case "opaque":
		if sub.ID == "" {
			return "", fieldError("subject.id", "missing")
		}
		return sub.ID, nil
	case "iss_sub":
		if sub.Sub == "" {
			return "", fieldError("subject.sub", "missing")
		}
		return sub.Sub, nil
	case "":
		return "", fieldError("subject.format", "missing: opaque or iss_sub")
	}
	return "", fieldError("subject.format", "%q: want opaque or iss_sub", sub.Format)
}

// AddSubject makes the stream carry events about sub again (streams carry every subject by default).
func (t *Transmitter) AddSubject(id string, sub *Subject) error {
	return t.subject(id, sub, false)
}

// RemoveSubject stops the stream carrying events about sub.
func (t *Transmitter) RemoveSubject(id string, sub *Subject) error {
	return t.subject(id, sub, true)
}

func (t *Transmitter) subject(id string, sub *Subject, remove bool) error {
	user, err := subjectUser(sub)
	if err != nil {
		return err
	}
	s, err := t.stream(id)
	if err != nil {
		return err
	}
	key := t.subjectKey(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	if remove {
		if len(s.removed) >= 1<<16 {
			return fieldError("subject", "the stream has 65536 subjects removed already")
		}
		s.removed[key] = struct{}{}
		s.queue = slices.DeleteFunc(s.queue, func(q queued) bool { return q.subject == user })
	} else {
		delete(s.removed, key)
	}
	s.dirty.Store(true)
	return nil
}

// Verify queues a verification event carrying state on stream id (SSF 1.0 section 8.1.4).
func (t *Transmitter) Verify(id, state string) error {
	if len(state) > 1024 {
		return fieldError("state", "at most 1024 bytes")
	}
	s, err := t.stream(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	aud, disabled := s.cfg.Aud, s.status == StatusDisabled
	s.mu.Unlock()
	if disabled {
		return fieldError("stream_id", "the stream is disabled")
	}
	ev := event{typ: EventVerification, subject: id, time: time.Now(), state: state}
	token, jti, err := t.signer.sign(t.cfg.Issuer, aud, map[string]string{"format": "opaque", "id": id}, ev.typ, t.claims(&ev), time.Now())
	if err != nil {
		return err
	}
	t.enqueue(s, queued{jti: jti, token: token})
	return nil
}

// authorized reports whether header is the stream's token, in constant time.
func (s *stream) authorizedLocked(header string) bool {
	want := s.cfg.Delivery.AuthorizationHeader
	return subtle.ConstantTimeCompare([]byte(header), []byte(want)) == 1 && want != ""
}
