package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/client"
)

// eventsServer answers /v1/events with the statuses of script in turn (the last one from then on), recording
// when each request came.
type eventsServer struct {
	*httptest.Server
	mu      sync.Mutex
	arrived []time.Time
	release chan struct{} // when not nil, each request waits for it to be closed
}

type reply struct {
	status     int
	retryAfter string
}

func startEvents(t *testing.T, release chan struct{}, script ...reply) *eventsServer {
	t.Helper()
	s := &eventsServer{release: release}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.arrived)
		s.arrived = append(s.arrived, time.Now())
		s.mu.Unlock()
		if s.release != nil {
			<-s.release
		}
		rep := script[min(n, len(script)-1)]
		w.Header().Set("Content-Type", "application/json")
		if rep.retryAfter != "" {
			w.Header().Set("Retry-After", rep.retryAfter)
		}
		w.WriteHeader(rep.status)
		if rep.status == http.StatusOK {
			w.Write([]byte(`{"status":"recorded"}`))
		} else {
			w.Write([]byte(`{"error":{"code":"x","message":"x"}}`))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *eventsServer) times() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.arrived...)
}

func queueClient(t *testing.T, base string, q client.QueueConfig) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{BaseURL: base, Timeout: time.Second, Outcomes: q})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var outcome = client.Outcome{Type: client.LoginFailed, UserID: "u", IP: "192.0.2.1"}

func closeWithin(t *testing.T, c *client.Client, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.Close(ctx)
}

// TestQueueHonoursRetryAfter: an outcome refused with 503 and Retry-After: 1 is sent again no sooner than a
// second later (not after the 10 ms backoff), then counted as sent.
func TestQueueHonoursRetryAfter(t *testing.T) {
	s := startEvents(t, nil, reply{503, "1"}, reply{200, ""})
	c := queueClient(t, s.URL, client.QueueConfig{Senders: 1, Backoff: 10 * time.Millisecond})
	if !c.Enqueue(outcome) {
		t.Fatal("Enqueue refused an outcome with an empty queue")
	}
	if err := closeWithin(t, c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	at := s.times()
	if len(at) != 2 {
		t.Fatalf("%d requests; want 2", len(at))
	}
	if gap := at[1].Sub(at[0]); gap < 950*time.Millisecond {
		t.Fatalf("the retry came %v after the 503; Retry-After asked for 1 s", gap)
	}
	if st := c.Stats(); st.Sent != 1 || st.Retries != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v; want 1 sent after 1 retry", st)
	}
}

// TestQueueRetryAfterAsADate: Retry-After may be an HTTP date.
func TestQueueRetryAfterAsADate(t *testing.T) {
	when := time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) // a whole second: 1 to 2 s from now
	s := startEvents(t, nil, reply{429, when}, reply{200, ""})
	c := queueClient(t, s.URL, client.QueueConfig{Senders: 1, Backoff: 10 * time.Millisecond})
	c.Enqueue(outcome)
	if err := closeWithin(t, c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	at := s.times()
	if len(at) != 2 || at[1].Sub(at[0]) < 500*time.Millisecond {
		t.Fatalf("requests at %v; want a retry at the Retry-After date", at)
	}
}

// TestQueueIsBoundedAndCountsDrops: with the sender stuck on a slow riskd, the queue holds Size outcomes and
// drops (and counts) the rest at once; Enqueue never blocks.
func TestQueueIsBoundedAndCountsDrops(t *testing.T) {
	release := make(chan struct{})
	s := startEvents(t, release, reply{200, ""})
	c := queueClient(t, s.URL, client.QueueConfig{Size: 2, Senders: 1})
	accepted := 0
	var took time.Duration
	stalled := stallDuring(func() {
		start := time.Now()
		for range 10 {
			if c.Enqueue(outcome) {
				accepted++
			}
		}
		took = time.Since(start)
	})
	if took > 50*time.Millisecond+stalled {
		t.Fatalf("10 Enqueue calls took %v (the process stalled %v); they must not block", took, stalled)
	}
	if accepted < 2 || accepted > 3 { // the queue's 2, and maybe 1 the sender took before the queue filled
		t.Fatalf("%d of 10 outcomes queued with a queue of 2 and 1 sender", accepted)
	}
	if st := c.Stats(); st.Dropped != int64(10-accepted) || st.Enqueued != int64(accepted) {
		t.Fatalf("stats %+v; want %d enqueued, %d dropped", st, accepted, 10-accepted)
	}
	close(release)
	if err := closeWithin(t, c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Sent != int64(accepted) || st.Queued != 0 {
		t.Fatalf("stats after Close %+v; want every queued outcome sent", st)
	}
	if c.Enqueue(outcome) {
		t.Fatal("Enqueue after Close queued an outcome")
	}
}

// TestQueueDropsWhatRiskdRefuses: a 4xx will not change; the outcome is dropped after one request.
func TestQueueDropsWhatRiskdRefuses(t *testing.T) {
	s := startEvents(t, nil, reply{400, ""})
	c := queueClient(t, s.URL, client.QueueConfig{Backoff: time.Millisecond})
	c.Enqueue(outcome)
	if err := closeWithin(t, c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if n, st := len(s.times()), c.Stats(); n != 1 || st.Dropped != 1 || st.Retries != 0 {
		t.Fatalf("%d requests, stats %+v; want 1 request and 1 drop", n, st)
	}
}

// TestQueueGivesUpAfterMaxAttempts: a riskd failing every time gets MaxAttempts requests, then the outcome is
// dropped.
func TestQueueGivesUpAfterMaxAttempts(t *testing.T) {
	s := startEvents(t, nil, reply{500, ""})
	c := queueClient(t, s.URL, client.QueueConfig{MaxAttempts: 3, Backoff: time.Millisecond})
	c.Enqueue(outcome)
	if err := closeWithin(t, c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if n, st := len(s.times()), c.Stats(); n != 3 || st.Dropped != 1 || st.Retries != 2 || st.Sent != 0 {
		t.Fatalf("%d requests, stats %+v; want 3 requests, 2 retries, 1 drop", n, st)
	}
}

// TestCloseKeepsItsDeadline: Close returns at its deadline even when riskd asks to wait a minute, and counts
// what it abandons.
func TestCloseKeepsItsDeadline(t *testing.T) {
	s := startEvents(t, nil, reply{503, "60"})
	c := queueClient(t, s.URL, client.QueueConfig{Senders: 1, MaxBackoff: time.Minute})
	for range 3 {
		c.Enqueue(outcome)
	}
	for deadline := time.Now().Add(2 * time.Second); len(s.times()) == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	var err error
	var took time.Duration
	stalled := stallDuring(func() {
		start := time.Now()
		err = closeWithin(t, c, 200*time.Millisecond)
		took = time.Since(start)
	})
	if !errors.Is(err, context.DeadlineExceeded) || took > 300*time.Millisecond+stalled {
		t.Fatalf("Close: %v after %v (the process stalled %v); want the deadline's error at 200 ms", err, took, stalled)
	}
	if st := c.Stats(); st.Dropped != 3 || st.Sent != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v; want the 3 outcomes dropped", st)
	}
}

// TestEnqueueIsSafeWithClose: Enqueue racing Close neither panics nor loses count.
func TestEnqueueIsSafeWithClose(t *testing.T) {
	s := startEvents(t, nil, reply{200, ""})
	c := queueClient(t, s.URL, client.QueueConfig{Size: 64})
	var wg sync.WaitGroup
	var calls atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				c.Enqueue(outcome)
				calls.Add(1)
			}
		}()
	}
	time.Sleep(time.Millisecond)
	if err := closeWithin(t, c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	st := c.Stats()
	if st.Sent+st.Dropped != calls.Load() || st.Sent != st.Enqueued {
		t.Fatalf("stats %+v after %d Enqueue calls; every call must end sent or dropped", st, calls.Load())
	}
}
