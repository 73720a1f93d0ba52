package server

import (
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestQueueControlHoldsTheDelay: ages above the target raise the shed probability, the more the further
// above; ages below it bring the probability back to nothing, and then nothing is shed.
func TestQueueControlHoldsTheDelay(t *testing.T) {
	const target = 2 * time.Millisecond
	q := newQueueControl(target)
	now := time.Unix(1_700_000_000, 0)
	feed := func(age time.Duration, d time.Duration) (shed int) {
		for end := now.Add(d); now.Before(end); now = now.Add(50 * time.Microsecond) { // 20 requests a millisecond
			q.observe(age, now)
			if q.pick() {
				shed++
			}
		}
		return shed
	}
	feed(target/2, 50*time.Millisecond)
	if p := q.probability(); p != 0 {
		t.Fatalf("below the target: probability %.2f, want 0", p)
	}
	feed(2*target, 20*time.Millisecond)
	low := q.probability()
	feed(2*target, 20*time.Millisecond)
	if high := q.probability(); low <= 0.1 || high <= low {
		t.Fatalf("at twice the target: probability %.2f after 20 ms, %.2f after 40 ms; want it rising from above 0.1", low, high)
	}
	if shed := feed(3*target, 20*time.Millisecond); shed < 100 {
		t.Fatalf("at three times the target, %d of 400 requests shed", shed)
	}
	feed(0, 100*time.Millisecond)
	if p := q.probability(); p != 0 {
		t.Fatalf("back below the target for 100 ms: probability %.2f, want 0", p)
	}
	if shed := feed(0, 10*time.Millisecond); shed != 0 {
		t.Fatalf("below the target, %d requests shed", shed)
	}
}

// TestQueueTargetShedsWithinTheBudget: with a queue target, requests that waited less than the budget but
// above the target are shed once the controller has seen the delay stay there, counted as shed early and
// answered 503; without stamps nothing is shed.
func TestQueueTargetShedsWithinTheBudget(t *testing.T) {
	s := newTestServerWith(t, func(c *Config) { c.QueueBudget, c.QueueTarget = time.Second, time.Millisecond })
	send := func(user string, stamped bool) int {
		ctx := decideCtx(`{"type":"login","user_id":"` + user + `","ip":"216.160.83.56","credentials_valid":true}`)
		if stamped {
			ctx.Request.Header.Set(HeaderRequestStart, strconv.FormatInt(time.Now().Add(-100*time.Millisecond).UnixMicro(), 10))
		}
		s.Handle(ctx)
		return ctx.Response.StatusCode()
	}
	shed := 0
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && shed < 10; {
		if send("ann", true) == fasthttp.StatusServiceUnavailable {
			shed++
		}
		time.Sleep(100 * time.Microsecond)
	}
	if shed < 10 {
		t.Fatalf("requests 100 ms old against a 1 ms target: %d shed in 2 s", shed)
	}
	if s.shedLate.Get() != 0 || s.shedEarly.Get() != uint64(shed) {
		t.Fatalf("shed late %d, early %d; want 0 and %d", s.shedLate.Get(), s.shedEarly.Get(), shed)
	}
	for range 50 {
		if code := send("bob", false); code != fasthttp.StatusOK {
			t.Fatalf("an unstamped request: %d, want 200", code)
		}
	}
	if got := s.requests[5].Get(); got != uint64(shed) {
		t.Fatalf("5xx answers %d, want the %d shed", got, shed)
	}
}

// TestQueueTargetIgnoresUnauthenticatedStamps: the stamp is the caller's word and the controller sheds across
// callers, so requests that fail authentication, however old their stamps, do not move it; an authenticated
// caller's do.
func TestQueueTargetIgnoresUnauthenticatedStamps(t *testing.T) {
	s := newTestServerWith(t, func(c *Config) { c.QueueBudget, c.QueueTarget = time.Second, time.Millisecond })
	kr, err := ParseKeyring([]byte("keys:\n  - {name: idp, sha256: " + HashSecret("rk_idp") + ", scopes: [decide]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s.keys.Store(kr)
	send := func(secret string) int {
		ctx := decideCtx(`{"type":"login","user_id":"cy","ip":"216.160.83.56","credentials_valid":true}`)
		ctx.Request.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+secret)
		ctx.Request.Header.Set(HeaderRequestStart, strconv.FormatInt(time.Now().Add(-500*time.Millisecond).UnixMicro(), 10))
		s.Handle(ctx)
		return ctx.Response.StatusCode()
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
		if code := send("rk_forged"); code != fasthttp.StatusUnauthorized {
			t.Fatalf("an unauthenticated request: %d, want 401", code)
		}
	}
	if p := s.queue.probability(); p != 0 {
		t.Fatalf("unauthenticated stamps moved the shed probability to %.2f", p)
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
		send("rk_idp")
	}
	if p := s.queue.probability(); p == 0 {
		t.Fatal("an authenticated caller's waits, 500 times the target, left the shed probability at 0")
	}
}
