package signals

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// deliver pushes the SETs of stream s one at a time, in order, until the stream is deleted or the transmitter
// closed (RFC 8935). A 5xx, a 429 or a transport error (a timeout) is retried with exponential backoff; any
// other refusal, or running out of attempts, drops the SET and counts it as failed.
func (t *Transmitter) deliver(s *stream) {
	defer t.wg.Done()
	for {
		s.mu.Lock()
		if s.status != StatusEnabled || len(s.queue) == 0 {
			ch := s.changed
			s.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-s.stop:
				return
			case <-t.stop:
				return
			}
		}
		q := s.queue[0]
		url, auth := s.cfg.Delivery.EndpointURL, s.cfg.Delivery.AuthorizationHeader
		s.mu.Unlock()

		retry, err := t.post(url, map[string]string{"Content-Type": "application/secevent+jwt", "Accept": "application/json",
			"Authorization": auth}, q.token)
		s.mu.Lock()
		switch {
		case err == nil:
			if s.removeLocked(q.jti) {
				t.delivered.Inc()
			}
			s.mu.Unlock()
			continue
		case retry && q.attempts+1 < t.cfg.MaxAttempts:
			if len(s.queue) > 0 && s.queue[0].jti == q.jti {
				s.queue[0].attempts++
			}
			s.mu.Unlock()
			t.retries.Inc()
		default:
			if s.removeLocked(q.jti) {
				t.failed.Inc()
			}
			s.mu.Unlock()
			t.log.Warn("a security event could not be pushed; dropped", "endpoint", url, "err", err)
			continue
		}
		delay := t.backoff(q.attempts + 1)
		select {
		case <-time.After(delay):
		case <-s.stop:
			return
		case <-t.stop:
			return
		}
	}
}

// backoff is the delay before retry n (1, 2, ...): RetryBase doubled per attempt, capped at RetryMax, with
// up to a quarter of jitter so that receivers coming back are not hit by every stream at once.
func (t *Transmitter) backoff(n int) time.Duration {
	d := t.cfg.RetryBase
	for i := 1; i < n && d < t.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, t.cfg.RetryMax)
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// post sends one SET or webhook body; retry says whether a failure may pass on a later attempt.
func (t *Transmitter) post(url string, headers map[string]string, body string) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.PushTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return false, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, &pushError{status: resp.StatusCode}
	}
	var e struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}
	_ = json.Unmarshal(answer, &e)
	return false, &pushError{status: resp.StatusCode, code: e.Err, description: e.Description}
}

type pushError struct {
	status            int
	code, description string
}

func (e *pushError) Error() string {
	s := "receiver answered " + http.StatusText(e.status)
	if e.code != "" {
		s += ": " + e.code
	}
	if e.description != "" {
		s += " (" + e.description + ")"
	}
	return s
}

// PollRequest is a polling receiver's request (RFC 8936 section 2.4).
type PollRequest struct {
	Ack               []string                   `json:"ack"`
	SetErrs           map[string]json.RawMessage `json:"setErrs"`
	MaxEvents         *int                       `json:"maxEvents"`
	ReturnImmediately bool                       `json:"returnImmediately"`
}

// PollResponse is the answer to a poll: SETs by jti, and whether more are waiting.
type PollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// maxPollEvents bounds the SETs of one poll answer.
const maxPollEvents = 100

// Poll answers a poll of stream id by a receiver presenting authorization: it drops the SETs acknowledged
// (or reported in error), then returns those waiting, which stay queued until acknowledged. A poll that asks
// not to return immediately waits up to Config.PollWait for a SET, or until done is closed.
func (t *Transmitter) Poll(done <-chan struct{}, id, authorization string, req *PollRequest) (PollResponse, error) {
	s, err := t.stream(id)
	if err != nil {
		return PollResponse{}, err
	}
	max := maxPollEvents
	if req.MaxEvents != nil {
		if *req.MaxEvents < 0 {
			return PollResponse{}, fieldError("maxEvents", "must not be negative")
		}
		max = min(*req.MaxEvents, maxPollEvents)
	}
	s.mu.Lock()
	if s.cfg.Delivery.Method != DeliveryPoll || !s.authorizedLocked(authorization) {
		s.mu.Unlock()
		return PollResponse{}, ErrUnauthorized
	}
	for _, jti := range req.Ack {
		if s.removeLocked(jti) {
			t.delivered.Inc()
		}
	}
	for jti := range req.SetErrs {
		if s.removeLocked(jti) {
			t.pollErrors.Inc()
		}
	}
	s.mu.Unlock()

	var timer *time.Timer
	for {
		s.mu.Lock()
		resp := PollResponse{Sets: map[string]string{}}
		if s.status == StatusEnabled {
			for i := range s.queue {
				if len(resp.Sets) == max {
					resp.MoreAvailable = true
					break
				}
				resp.Sets[s.queue[i].jti] = s.queue[i].token
			}
		}
		ch := s.changed
		s.mu.Unlock()
		if len(resp.Sets) > 0 || resp.MoreAvailable || req.ReturnImmediately || max == 0 {
			return resp, nil
		}
		if timer == nil {
			timer = time.NewTimer(t.cfg.PollWait)
			defer timer.Stop()
		}
		select {
		case <-ch:
		case <-timer.C:
			return resp, nil
		case <-done:
			return resp, nil
		case <-s.stop:
			return resp, nil
		case <-t.stop:
			return resp, nil
		}
	}
}
