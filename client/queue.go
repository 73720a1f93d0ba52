package client

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// QueueConfig configures the outcome queue. Zero values take the defaults in parentheses.
type QueueConfig struct {
	// Size is how many outcomes wait at most; beyond it Enqueue drops (1024). A lost outcome costs riskd a
	// little learning; a blocked login path would cost a login.
	Size int
	// Senders is how many goroutines send (2): one waiting out a Retry-After does not stop the others.
	Senders int
	// MaxAttempts is how often one outcome is tried before it is dropped (5).
	MaxAttempts int
	// Backoff is the wait before the first retry (100 ms), doubled at each retry up to MaxBackoff (10 s), with
	// jitter; a Retry-After from riskd replaces it when longer (up to 5 minutes).
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// Stats counts what happened to enqueued outcomes.
type Stats struct {
	Enqueued int64 // accepted by Enqueue
	Sent     int64 // recorded by riskd
	Retries  int64 // sends tried again after a temporary failure
	Dropped  int64 // lost: the queue was full, riskd refused them (4xx), MaxAttempts ran out, or Close's deadline passed
	Queued   int   // waiting now
}

type queue struct {
	c   *Client
	cfg QueueConfig
	ch  chan Outcome
	// abandon is cancelled when Close's deadline passes: senders give up their sends and waits.
	abandon       context.Context
	abandonCancel context.CancelFunc
	wg            sync.WaitGroup
	mu            sync.RWMutex // held for reading by Enqueue, for writing by Close: no send on a closed channel
	closed        bool

	enqueued, sent, retries, dropped atomic.Int64
}

func newQueue(c *Client, cfg QueueConfig) *queue {
	if cfg.Size <= 0 {
		cfg.Size = 1024
	}
	if cfg.Senders <= 0 {
		cfg.Senders = 2
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	q := &queue{c: c, cfg: cfg, ch: make(chan Outcome, cfg.Size)}
	q.abandon, q.abandonCancel = context.WithCancel(context.Background())
	q.wg.Add(cfg.Senders)
	for range cfg.Senders {
		go q.send()
	}
	return q
}

// Enqueue queues an outcome to be sent in the background and reports whether it was queued: it never blocks,
// and an outcome that does not fit (or comes after Close) is dropped and counted.
func (c *Client) Enqueue(o Outcome) bool {
	q := c.queue
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.dropped.Add(1)
		return false
	}
	select {
	case q.ch <- o:
		q.enqueued.Add(1)
		return true
	default:
		q.dropped.Add(1)
		return false
	}
}

// Stats returns the outcome queue's counters.
func (c *Client) Stats() Stats {
	q := c.queue
	return Stats{Enqueued: q.enqueued.Load(), Sent: q.sent.Load(), Retries: q.retries.Load(),
		Dropped: q.dropped.Load(), Queued: len(q.ch)}
}

// Close stops accepting outcomes and sends those queued until ctx ends; what is left then is dropped and
// counted, and ctx's error returned. It then closes the idle connections. The other calls keep working after
// Close.
func (c *Client) Close(ctx context.Context) error {
	defer c.http.CloseIdleConnections()
	q := c.queue
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		q.abandonCancel()
		return nil
	case <-ctx.Done():
		q.abandonCancel()
		<-done
		return ctx.Err()
	}
}

// send is one sender: it takes outcomes until the queue is closed and empty, or Close gives up.
func (q *queue) send() {
	defer q.wg.Done()
	for o := range q.ch {
		if q.abandon.Err() != nil {
			q.dropped.Add(1)
			continue
		}
		q.deliver(&o)
	}
}

// deliver tries one outcome up to MaxAttempts times, waiting between tries; it gives up at once on an answer
// that will not change (4xx but 429) and when Close's deadline passes.
func (q *queue) deliver(o *Outcome) {
	body, err := json.Marshal(o)
	if err != nil {
		q.dropped.Add(1)
		return
	}
	backoff := q.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := q.c.call(q.abandon, q.c.timeout, http.MethodPost, "/v1/events", "application/json", body, nil, maxDecisionBytes)
		if err == nil {
			q.sent.Add(1)
			return
		}
		var ae *APIError
		if errors.As(err, &ae) && !ae.Temporary() {
			q.dropped.Add(1) // riskd refused it: sending it again would be refused again
			return
		}
		if attempt >= q.cfg.MaxAttempts {
			q.dropped.Add(1)
			return
		}
		wait := min(jitter(backoff), q.cfg.MaxBackoff)
		if ae != nil && ae.RetryAfter > wait {
			// riskd said when: never sooner. Bounded, so that a wrong server cannot park a sender for a day;
			// Close's deadline ends any wait.
			wait = min(ae.RetryAfter, maxRetryAfter)
		}
		backoff = min(2*backoff, q.cfg.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-q.abandon.Done():
			t.Stop()
			q.dropped.Add(1)
			return
		}
		q.retries.Add(1)
	}
}

// maxRetryAfter bounds the wait a Retry-After header may ask of a sender.
const maxRetryAfter = 5 * time.Minute

// jitter spreads d over [d/2, d], so that many clients retrying after one outage do not return at once.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}
