package server_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/signals"
)

// hookReceiver is a webhook consumer on loopback that checks each delivery's signature with its own HMAC
// code, as docs/SIGNALS.md shows, answers 500 to the first failFirst deliveries and 200 to the others.
type hookReceiver struct {
	t         *testing.T
	secret    []byte
	mu        sync.Mutex
	failFirst int
	attempts  []string // ids, in arrival order
	got       chan delivery
}

type delivery struct {
	id, signature string
	body          []byte
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sig, id := r.Header.Get(signals.HeaderSignature), r.Header.Get(signals.HeaderWebhookID)
	if !validHMAC(h.secret, sig, body, time.Now()) {
		h.t.Errorf("a webhook whose signature does not verify: %q over %s", sig, body)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	h.attempts = append(h.attempts, id)
	fail := len(h.attempts) <= h.failFirst
	h.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	h.got <- delivery{id: id, signature: sig, body: body}
}

// validHMAC is a receiver's check written without riskd's code: t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>")>,
// with the timestamp within 5 minutes.
func validHMAC(secret []byte, header string, body []byte, now time.Time) bool {
	var ts, v1 string
	for _, p := range strings.Split(header, ",") {
		if k, v, ok := strings.Cut(p, "="); ok && k == "t" {
			ts = v
		} else if ok && k == "v1" {
			v1 = v
		}
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(n, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "." + string(body)))
	got, err := hex.DecodeString(v1)
	return err == nil && hmac.Equal(got, mac.Sum(nil))
}

func TestWebhookSignedDelivery(t *testing.T) {
	secret := []byte("webhook-secret-of-32-bytes-long!")
	rcv := &hookReceiver{t: t, secret: secret, failFirst: 1, got: make(chan delivery, 16)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: rcv}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	ts := startSSF(t, func(c *signals.Config) {
		c.Webhooks = []signals.Webhook{{URL: "http://" + ln.Addr().String() + "/hook", Secret: secret,
			Triggers: []string{"outcome:fraud_confirmed", "rule:ip_credential_stuffing"}}}
	})

	ts.event(map[string]any{"type": "mfa_failed", "user_id": "frank"}) // no trigger
	ts.event(map[string]any{"type": "fraud_confirmed", "user_id": "frank", "tenant": "brand-a"})
	var d delivery
	select {
	case d = <-rcv.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook within 5 s")
	}
	var body signals.WebhookBody
	if err := json.Unmarshal(d.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Kind != "outcome" || body.Outcome != "fraud_confirmed" || body.UserID != "frank" || body.Tenant != "brand-a" || body.ID != d.id {
		t.Fatalf("webhook body %s", d.body)
	}
	// The 500 was retried: the same delivery twice, accepted once, nothing else sent.
	select {
	case extra := <-rcv.got:
		t.Fatalf("a second delivery: %s", extra.body)
	case <-time.After(300 * time.Millisecond):
	}
	rcv.mu.Lock()
	attempts := rcv.attempts
	rcv.mu.Unlock()
	if len(attempts) != 2 || attempts[0] != d.id || attempts[1] != d.id {
		t.Fatalf("attempts %v, want the one delivery twice", attempts)
	}
	if got := ts.reg.GetOrCreateCounter("riskd_webhook_retries_total").Get(); got != 1 {
		t.Fatalf("riskd_webhook_retries_total %d", got)
	}

	// What a receiver must refuse: a tampered body, a replay after the tolerance, another secret.
	now := time.Now()
	if err := signals.VerifyWebhook(secret, d.signature, d.body, now, 5*time.Minute); err != nil {
		t.Fatalf("the delivery as received: %v", err)
	}
	tampered := []byte(strings.Replace(string(d.body), `"frank"`, `"grace"`, 1))
	if err := signals.VerifyWebhook(secret, d.signature, tampered, now, 5*time.Minute); !errors.Is(err, signals.ErrWebhookSignature) || validHMAC(secret, d.signature, tampered, now) {
		t.Fatalf("a tampered body: %v", err)
	}
	later := now.Add(6 * time.Minute)
	if err := signals.VerifyWebhook(secret, d.signature, d.body, later, 5*time.Minute); !errors.Is(err, signals.ErrWebhookSignature) || validHMAC(secret, d.signature, d.body, later) {
		t.Fatalf("a replay 6 minutes later: %v", err)
	}
	if err := signals.VerifyWebhook([]byte("another-secret-of-some-length"), d.signature, d.body, now, 5*time.Minute); err == nil {
		t.Fatal("verified with another secret")
	}
	// Moving the signed timestamp forward breaks the signature.
	forged := "t=" + strconv.FormatInt(later.Unix(), 10) + d.signature[strings.Index(d.signature, ","):]
	if err := signals.VerifyWebhook(secret, forged, d.body, later, 5*time.Minute); err == nil {
		t.Fatal("a replay with a new timestamp verified")
	}
}
