package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config configures a Client. Zero values take the defaults in parentheses.
type Config struct {
	// BaseURL is riskd's address, e.g. http://127.0.0.1:8080 (required).
	BaseURL string
	// APIKey is sent as Authorization: Bearer; empty sends none (riskd without keys, on loopback).
	APIKey string
	// Timeout bounds each decide and outcome call, from the request to the last byte of the answer (100 ms).
	// A context deadline that comes sooner wins.
	Timeout time.Duration
	// AdminTimeout bounds each users and rules call (10 s): PUT /v1/rules compiles the set and runs its tests.
	AdminTimeout time.Duration
	// FailPolicy overrides, per event type, the decision Decide falls back to (DefaultFailPolicy otherwise).
	FailPolicy map[EventType]Action
	// Transport carries the requests (a transport tuned for many short keep-alive calls to one host).
	Transport http.RoundTripper
	// Outcomes configures the queue behind Enqueue.
	Outcomes QueueConfig
}

// DefaultFailPolicy is riskd's default fail policy (engine.DefaultFailPolicy, --fail-policy's default): an
// outage of riskd must not lock customers out, so logins and registrations are allowed, and everything that
// moves money or changes the account steps up. It returns a new map on each call.
func DefaultFailPolicy() map[EventType]Action {
	return map[EventType]Action{
		Login:               Allow,
		Registration:        Allow,
		PasswordReset:       StepUp,
		Checkout:            StepUp,
		PaymentMethodChange: StepUp,
		ProfileChange:       StepUp,
	}
}

// ParseFailPolicy reads a fail policy written as riskd's --fail-policy flag is ("login=allow,checkout=step_up",
// over the default), so that a deployment can give the client and riskd the same string.
func ParseFailPolicy(s string) (map[EventType]Action, error) {
	p := DefaultFailPolicy()
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, action, ok := strings.Cut(item, "=")
		t, a := EventType(strings.TrimSpace(name)), Action(strings.TrimSpace(action))
		if _, known := p[t]; !ok || !known || !a.valid() {
			return nil, fmt.Errorf("client: fail policy %q: want event_type=allow|step_up|deny, e.g. login=allow,checkout=step_up", item)
		}
		p[t] = a
	}
	return p, nil
}

// Client calls riskd. It is safe for concurrent use; Close stops the outcome queue's senders.
type Client struct {
	base         string
	auth         string
	timeout      time.Duration
	adminTimeout time.Duration
	failPolicy   map[EventType]Action
	http         *http.Client
	queue        *queue
}

// New returns a Client and starts the senders of its outcome queue.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: BaseURL %q: want http(s)://host[:port]", cfg.BaseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 100 * time.Millisecond
	}
	if cfg.AdminTimeout <= 0 {
		cfg.AdminTimeout = 10 * time.Second
	}
	policy := DefaultFailPolicy()
	for t, a := range cfg.FailPolicy {
		if !a.valid() {
			return nil, fmt.Errorf("client: fail policy for %q: %q is not allow, step_up or deny", t, a)
		}
		policy[t] = a
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport(cfg.Timeout)
	}
	c := &Client{
		base:         strings.TrimRight(cfg.BaseURL, "/"),
		timeout:      cfg.Timeout,
		adminTimeout: cfg.AdminTimeout,
		failPolicy:   policy,
		// No redirects: riskd never sends one, and following one would send the key elsewhere.
		http: &http.Client{Transport: cfg.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
	if cfg.APIKey != "" {
		c.auth = "Bearer " + cfg.APIKey
	}
	c.queue = newQueue(c, cfg.Outcomes)
	return c, nil
}

// NewTransport returns the transport New uses by default: keep-alive connections, enough idle ones per host
// for a busy identity server, dials bounded by timeout, no proxy from the environment (riskd sits next to its
// callers), and idle connections closed after 90 s, before riskd's 2-minute idle timeout, so the client is the
// side that closes them (a POST sent on a connection the server just closed fails and is not retried).
func NewTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 2 * time.Second,
	}
}

// APIError is an error answer of riskd: its status, code (api/openapi.yaml ErrorCode), the offending field and
// the message.
type APIError struct {
	Status     int
	Code       string
	Field      string
	Message    string
	RetryAfter time.Duration // from the Retry-After header, when there was one
}

func (e *APIError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("riskd: %d %s (%s): %s", e.Status, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("riskd: %d %s: %s", e.Status, e.Code, e.Message)
}

// Temporary reports whether the same request may succeed later: riskd was overloaded, draining or failing.
func (e *APIError) Temporary() bool { return e.Status == http.StatusTooManyRequests || e.Status >= 500 }

// Largest answers read, so that a wrong or hostile server cannot make the client buffer without bound.
const (
	maxDecisionBytes = 1 << 20
	maxAdminBytes    = 64 << 20
)

// call sends one request and decodes a 2xx JSON answer into out (when not nil). Any other answer is an
// *APIError; a transport failure or an unreadable answer is returned as is.
func (c *Client) call(ctx context.Context, timeout time.Duration, method, path, contentType string, body []byte, out any, limit int64) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.exchange(ctx, method, path, contentType, body, out, limit)
}

// exchange is call within ctx.
func (c *Client) exchange(ctx context.Context, method, path, contentType string, body []byte, out any, limit int64) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return err
	}
	if int64(len(raw)) > limit {
		return fmt.Errorf("riskd: answer larger than %d bytes", limit)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(resp, raw)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("riskd: answer %d with content type %q, not JSON", resp.StatusCode, ct)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("riskd: unreadable answer: %w", err)
	}
	return nil
}

// apiError reads riskd's JSON error; an answer that is not one (a proxy's HTML page) keeps its status.
func apiError(resp *http.Response, raw []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		e.Code, e.Field, e.Message = body.Error.Code, body.Error.Field, body.Error.Message
	} else {
		e.Code, e.Message = "unexpected_answer", http.StatusText(resp.StatusCode)
	}
	return e
}

// parseRetryAfter reads a Retry-After value, seconds or an HTTP date (RFC 9110, section 10.2.3); 0 when absent
// or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(min(max(secs, 0), 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// Decide asks riskd for a decision. The Decision it returns is always usable: when riskd times out
// (Config.Timeout), cannot be reached, answers a 5xx (503 included) or an answer that cannot be read, it is
// the fail policy's decision for req.Type, with Fallback set, the reason fail_policy, and the cause in Cause.
// The request is never retried. The error is not nil only when riskd refused the request itself (4xx: a bad
// field, a wrong key), which the caller must fix; the decision is then the fail policy's too.
func (c *Client) Decide(ctx context.Context, req *DecideRequest) (Decision, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return c.fallback(req.Type, err), err
	}
	d, err := c.decide(ctx, body)
	var ae *APIError
	switch {
	case errors.As(err, &ae) && !ae.Temporary():
		return c.fallback(req.Type, err), err
	case err != nil:
		return c.fallback(req.Type, err), nil
	case !d.Decision.valid():
		err = fmt.Errorf("riskd: unknown decision %q", d.Decision)
		return c.fallback(req.Type, err), nil
	}
	for _, r := range d.Reasons {
		if r.Code == CodeFailPolicy {
			d.Fallback = true // riskd's own fallback (overloaded, --shed fallback)
		}
	}
	return d, nil
}

// decided is the outcome of one decide exchange.
type decided struct {
	d   Decision
	err error
}

// decide sends one decide request and returns its answer, or ctx's error as soon as the timeout passes. The
// exchange runs in a goroutine of its own, so that the fallback waits for nothing but the timer: not for the
// transport to notice the cancellation, close the connection and unblock a read, each a wake-up that a busy
// machine can delay.
func (c *Client) decide(ctx context.Context, body []byte) (Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	done := make(chan decided, 1)
	go func() {
		var r decided
		r.err = c.exchange(ctx, http.MethodPost, "/v1/decide", "application/json", body, &r.d, maxDecisionBytes)
		done <- r
	}()
	select {
	case r := <-done:
		return r.d, r.err
	case <-ctx.Done():
		return Decision{}, ctx.Err()
	}
}

// fallback is the fail policy's decision for t.
func (c *Client) fallback(t EventType, cause error) Decision {
	a, ok := c.failPolicy[t]
	if !ok {
		a = StepUp // as riskd does for an event type its policy does not name
	}
	return Decision{Decision: a, Reasons: []Reason{{Code: CodeFailPolicy,
		Message: "riskd did not answer in time or could not decide; this is the configured fail-policy decision"}},
		Fallback: true, Cause: cause}
}

// ReportOutcome sends one outcome now, within Config.Timeout, without retrying. See Enqueue for the
// asynchronous way, which the login path should use.
func (c *Client) ReportOutcome(ctx context.Context, o *Outcome) error {
	body, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return c.call(ctx, c.timeout, http.MethodPost, "/v1/events", "application/json", body, nil, maxDecisionBytes)
}

// userPath is the path of a user's resource: the id is one path segment, "/" escaped, as riskd reads it.
func userPath(id, sub string) (string, error) {
	if id == "" || id == "." || id == ".." || len(id) > 256 {
		return "", fmt.Errorf("client: user id %q: want 1 to 256 bytes other than \".\" and \"..\"", id)
	}
	return "/v1/users/" + url.PathEscape(id) + sub, nil
}

// ExportUser returns everything riskd holds about the user (admin scope). A user riskd knows nothing about is
// an *APIError with the code user_not_found (404).
func (c *Client) ExportUser(ctx context.Context, userID string) (*UserExport, error) {
	p, err := userPath(userID, "")
	if err != nil {
		return nil, err
	}
	var u UserExport
	if err := c.call(ctx, c.adminTimeout, http.MethodGet, p, "", nil, &u, maxAdminBytes); err != nil {
		return nil, err
	}
	return &u, nil
}

// EraseUser erases the user from riskd's state everywhere (admin scope). It returns nil once the erasure is
// durable, also when riskd held nothing; a 503 state_unavailable means it could not be completed: retry.
func (c *Client) EraseUser(ctx context.Context, userID string) error {
	p, err := userPath(userID, "")
	if err != nil {
		return err
	}
	return c.call(ctx, c.adminTimeout, http.MethodDelete, p, "", nil, nil, maxAdminBytes)
}

// SetMFAPreference stores the user's MFA preference (admin scope).
func (c *Client) SetMFAPreference(ctx context.Context, userID string, pref MFAPreference) error {
	p, err := userPath(userID, "/preferences")
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]MFAPreference{"mfa_preference": pref})
	if err != nil {
		return err
	}
	return c.call(ctx, c.adminTimeout, http.MethodPut, p, "application/json", body, nil, maxAdminBytes)
}

// Rules returns the live rule set (admin scope).
func (c *Client) Rules(ctx context.Context) (*RuleSet, error) {
	var s RuleSet
	if err := c.call(ctx, c.adminTimeout, http.MethodGet, "/v1/rules", "", nil, &s, maxAdminBytes); err != nil {
		return nil, err
	}
	return &s, nil
}

// ValidateRules compiles a rule file (YAML) and runs its tests without swapping it in (admin scope). A file
// that does not compile or fails its tests is an *APIError (422 invalid_rules or rule_tests_failed) whose
// message lists every error, one a line.
func (c *Client) ValidateRules(ctx context.Context, ruleFile []byte) (*RulesValidation, error) {
	var v RulesValidation
	if err := c.call(ctx, c.adminTimeout, http.MethodPost, "/v1/rules/validate", "application/yaml", ruleFile, &v, maxAdminBytes); err != nil {
		return nil, err
	}
	return &v, nil
}

// PutRules swaps in a rule file (YAML) once it compiles and its tests pass (admin scope); otherwise the live
// set keeps serving and the error says why, as for ValidateRules. The new set lasts until riskd reloads
// --rules or restarts.
func (c *Client) PutRules(ctx context.Context, ruleFile []byte) (*RulesReplaced, error) {
	var r RulesReplaced
	if err := c.call(ctx, c.adminTimeout, http.MethodPut, "/v1/rules", "application/yaml", ruleFile, &r, maxAdminBytes); err != nil {
		return nil, err
	}
	return &r, nil
}
