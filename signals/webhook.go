package signals

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// Webhook is a signed webhook for consumers that want a JSON body rather than SSF: riskd POSTs one for each
// decision or outcome that matches a trigger, signed with HMAC-SHA256 (HeaderSignature).
type Webhook struct {
	URL    string // https, or http to a loopback address
	Secret []byte // the HMAC key, at least 16 bytes
	// Triggers select what is sent: "decision:deny", "decision:step_up" (decisions by action), "rule:ID" (a
	// decision a rule fired on), "outcome:TYPE" (fraud_confirmed, legit_confirmed, mfa_passed, mfa_failed,
	// password_changed). Only signal-worthy decisions reach the webhooks: those that are not allows, or that
	// a stuffing rule fired on.
	Triggers []string
}

// Webhook headers.
const (
	// HeaderSignature carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">": the timestamp is
	// signed with the body, so a receiver that refuses old timestamps refuses replays (VerifyWebhook).
	HeaderSignature = "X-Riskd-Signature"
	// HeaderWebhookID is the body's id, the same on every retry of one delivery: receivers deduplicate on it.
	HeaderWebhookID = "X-Riskd-Webhook-Id"
)

// WebhookBody is the JSON body of a webhook.
type WebhookBody struct {
	ID           string   `json:"id"`
	Kind         string   `json:"kind"` // decision or outcome
	Time         string   `json:"time"` // event time, RFC 3339
	UserID       string   `json:"user_id"`
	Tenant       string   `json:"tenant,omitempty"`
	EvaluationID string   `json:"evaluation_id,omitempty"`
	EventType    string   `json:"event_type,omitempty"` // decisions
	Decision     string   `json:"decision,omitempty"`
	Rules        []string `json:"rules,omitempty"`
	Outcome      string   `json:"outcome,omitempty"` // outcomes
}

var outcomeTriggers = []features.OutcomeType{features.FraudConfirmed, features.LegitConfirmed, features.MFAPassed, features.MFAFailed, features.PasswordChanged}

// checkWebhook validates w; errors name the field (webhooks[i].url...).
func checkWebhook(i int, w *Webhook) error {
	field := func(f string) string { return fmt.Sprintf("webhooks[%d].%s", i, f) }
	if err := checkEndpoint(w.URL); err != nil {
		return fieldError(field("url"), "%s", err.(*FieldError).Message)
	}
	if len(w.Secret) < 16 {
		return fieldError(field("secret"), "at least 16 bytes")
	}
	if len(w.Triggers) == 0 {
		return fieldError(field("triggers"), "missing: e.g. decision:deny, rule:ip_credential_stuffing, outcome:fraud_confirmed")
	}
	for _, t := range w.Triggers {
		kind, v, _ := strings.Cut(t, ":")
		ok := false
		switch kind {
		case "decision":
			ok = v == rules.Deny.String() || v == rules.StepUp.String()
		case "rule":
			ok = v != ""
		case "outcome":
			for _, o := range outcomeTriggers {
				ok = ok || o.String() == v
			}
		}
		if !ok {
			return fieldError(field("triggers"), "%q: want decision:deny, decision:step_up, rule:ID or outcome:TYPE (%s)", t, outcomeNames())
		}
	}
	return nil
}

func outcomeNames() string {
	var s []string
	for _, o := range outcomeTriggers {
		s = append(s, o.String())
	}
	return strings.Join(s, ", ")
}

// matches reports whether signal s fires one of the triggers.
func matches(triggers []string, s *engine.Signal) bool {
	for _, t := range triggers {
		kind, v, _ := strings.Cut(t, ":")
		switch {
		case kind == "decision" && s.Kind == engine.SignalDecision && s.Action.String() == v,
			kind == "outcome" && s.Kind == engine.SignalOutcome && s.Outcome.String() == v,
			kind == "rule" && s.Kind == engine.SignalDecision && slices.Contains(s.Rules[:s.NumRules], v):
			return true
		}
	}
	return false
}

// webhook is a Webhook with its queue and delivery goroutine.
type webhook struct {
	cfg     Webhook
	mu      sync.Mutex
	queue   []queued // token: the JSON body
	changed chan struct{}
	dirty   *atomic.Bool

	delivered, retries, failed, dropped *metrics.Counter
}

func (t *Transmitter) startWebhooks() error {
	for i := range t.cfg.Webhooks {
		if err := checkWebhook(i, &t.cfg.Webhooks[i]); err != nil {
			return err
		}
	}
	m := t.cfg.Metrics
	for _, w := range t.cfg.Webhooks {
		h := &webhook{cfg: w, changed: make(chan struct{}), dirty: &t.dirty,
			delivered: m.GetOrCreateCounter("riskd_webhook_delivered_total"),
			retries:   m.GetOrCreateCounter("riskd_webhook_retries_total"),
			failed:    m.GetOrCreateCounter("riskd_webhook_failed_total"),
			dropped:   m.GetOrCreateCounter(`riskd_signals_dropped_total{queue="webhook"}`)}
		t.webhooks = append(t.webhooks, h)
	}
	return nil
}

// notifyWebhooks queues a body for every webhook whose triggers s matches.
func (t *Transmitter) notifyWebhooks(s *engine.Signal) {
	var body []byte
	var id string
	for _, h := range t.webhooks {
		if !matches(h.cfg.Triggers, s) {
			continue
		}
		if body == nil {
			var err error
			if body, id, err = webhookBody(s); err != nil {
				t.log.Error("encoding a webhook body", "err", err)
				return
			}
		}
		h.mu.Lock()
		if len(h.queue) >= t.cfg.StreamQueueSize {
			h.mu.Unlock()
			h.dropped.Inc()
			continue
		}
		h.queue = append(h.queue, queued{jti: id, token: string(body), subject: strings.Clone(s.UserID)}) // kept past the signal
		close(h.changed)
		h.changed = make(chan struct{})
		h.dirty.Store(true)
		h.mu.Unlock()
	}
}

func webhookBody(s *engine.Signal) ([]byte, string, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", err
	}
	b := WebhookBody{ID: hex.EncodeToString(raw[:]), UserID: s.UserID, Tenant: s.Tenant,
		Time: time.Unix(0, s.Time).UTC().Format(time.RFC3339Nano)}
	if s.EvaluationID != 0 {
		b.EvaluationID = strconv.FormatUint(s.EvaluationID, 16)
	}
	if s.Kind == engine.SignalDecision {
		// The rules are copied: a slice of s's array would make every signal the worker takes escape to the
		// heap, webhook or not.
		b.Kind, b.EventType, b.Decision, b.Rules = "decision", s.EventType.String(), s.Action.String(), slices.Clone(s.Rules[:s.NumRules])
	} else {
		b.Kind, b.Outcome = "outcome", s.Outcome.String()
	}
	body, err := json.Marshal(&b)
	return body, b.ID, err
}

// deliverWebhook posts h's bodies one at a time, with the retries and backoff of push delivery.
func (t *Transmitter) deliverWebhook(h *webhook) {
	defer t.wg.Done()
	for {
		h.mu.Lock()
		if len(h.queue) == 0 {
			ch := h.changed
			h.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-t.stop:
				return
			}
		}
		q := h.queue[0]
		h.mu.Unlock()
		ts := time.Now().Unix()
		headers := map[string]string{
			"Content-Type":    "application/json",
			HeaderWebhookID:   q.jti,
			HeaderSignature:   SignWebhook(h.cfg.Secret, ts, []byte(q.token)),
			"X-Riskd-Attempt": strconv.Itoa(q.attempts + 1),
		}
		retry, err := t.post(h.cfg.URL, headers, q.token)
		h.mu.Lock()
		i := slices.IndexFunc(h.queue, func(x queued) bool { return x.jti == q.jti })
		switch {
		case err == nil:
			if i >= 0 {
				h.queue = slices.Delete(h.queue, i, i+1)
				h.dirty.Store(true)
				h.delivered.Inc()
			}
			h.mu.Unlock()
			continue
		case retry && q.attempts+1 < t.cfg.MaxAttempts:
			if i >= 0 {
				h.queue[i].attempts++
			}
			h.mu.Unlock()
			h.retries.Inc()
		default:
			if i >= 0 {
				h.queue = slices.Delete(h.queue, i, i+1)
				h.dirty.Store(true)
				h.failed.Inc()
			}
			h.mu.Unlock()
			t.log.Warn("a webhook could not be delivered; dropped", "url", h.cfg.URL, "err", err)
			continue
		}
		select {
		case <-time.After(t.backoff(q.attempts + 1)):
		case <-t.stop:
			return
		}
	}
}

func (h *webhook) purge(user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queue = slices.DeleteFunc(h.queue, func(q queued) bool { return q.subject == user })
	h.dirty.Store(true)
}

// SignWebhook returns the HeaderSignature value of body sent at unix time ts.
func SignWebhook(secret []byte, ts int64, body []byte) string {
	t := strconv.FormatInt(ts, 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(t))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + t + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrWebhookSignature: a webhook whose signature does not verify, or whose timestamp is outside the tolerance.
var ErrWebhookSignature = errors.New("webhook signature")

// VerifyWebhook checks a webhook as a receiver should: the HMAC over the signed timestamp and the body, in
// constant time, and a timestamp within tolerance of now (a replay of an old delivery is refused). Within the
// tolerance a receiver refuses replays by remembering the HeaderWebhookID values it has seen.
func VerifyWebhook(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts int64 = -1
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%w: bad timestamp", ErrWebhookSignature)
			}
			ts = n
		case "v1":
			if s, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, s)
			}
		}
	}
	if ts < 0 || len(sigs) == 0 {
		return fmt.Errorf("%w: missing t or v1", ErrWebhookSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %d is outside the tolerance", ErrWebhookSignature, ts)
	}
	want := SignWebhook(secret, ts, body)
	wantMAC, _ := hex.DecodeString(want[strings.Index(want, "v1=")+3:])
	for _, s := range sigs {
		if subtle.ConstantTimeCompare(s, wantMAC) == 1 {
			return nil
		}
	}
	return fmt.Errorf("%w: no signature matches", ErrWebhookSignature)
}
