package server

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// queueControl sheds a share of the stamped requests, at random, so as to hold the delay requests wait before
// reaching riskd (their X-Request-Start age) near a target: a PI controller in the manner of PIE (RFC 8033),
// fed the ages of the requests riskd admits.
//
// Only authenticated callers' ages are observed (Server.admit): the stamp is the caller's word, and the
// controller sheds across callers, so an anonymous flood of requests stamped an hour ago must not be able to
// make riskd shed the identity server's logins. A request the controller or the budget shed is not observed;
// the ages observed are then those under the budget, enough to keep the probability up while the wait is
// above the target.
//
// Why not only the queue budget: riskd reads requests in about the order they arrived, so a budget alone sheds
// exactly the requests that waited longest, and an accepted request is one that waited just under it. Shed
// answers then arrive later than accepted ones, and the wait of both sits at the budget. Shedding at random
// while the delay is above the target sheds requests of every age, which keeps the delay at the target: the
// accepted answers wait about the target, and a refusal, which costs far less than an answer, arrives sooner
// than one. The budget stays as the hard bound for what the controller has not caught yet (a sudden burst).
//
// Every method is safe for concurrent use; the state is a few atomics, and nothing allocates.
type queueControl struct {
	target time.Duration
	// delay is a moving average of the ages seen (ns), updated by every stamped request: one request's age is
	// too noisy to steer by.
	delay atomic.Int64
	prev  atomic.Int64  // the average at the last update
	p     atomic.Uint64 // the shed probability, float64 bits
	next  atomic.Int64  // unix ns of the next update: one request per interval updates
}

const (
	// queueControlInterval is how often the probability moves. Small against the target's milliseconds, so a
	// spike is met within a few of them; each update is a handful of atomic operations.
	queueControlInterval = time.Millisecond
	// The controller's gains, per update, on the delay's error and its change, both relative to the target:
	// at twice the target the probability rises by 0.02 a millisecond, to the 0.5 a 2× overload needs in
	// about 25 ms; a rising delay adds to that at once.
	queueControlAlpha = 0.02
	queueControlBeta  = 0.2
	// queueControlSmoothing is the weight, 1/n, of a new age in the moving average.
	queueControlSmoothing = 8
)

func newQueueControl(target time.Duration) *queueControl { return &queueControl{target: target} }

// observe records that a request waited age, as of now.
func (q *queueControl) observe(age time.Duration, now time.Time) {
	d := q.delay.Load()
	d += (int64(age) - d) / queueControlSmoothing // a lost update under contention is one sample less
	q.delay.Store(d)
	if t := now.UnixNano(); t >= q.next.Load() {
		if n := q.next.Load(); t >= n && q.next.CompareAndSwap(n, t+int64(queueControlInterval)) {
			q.update(d)
		}
	}
}

// pick reports whether to shed a request, with the current probability.
func (q *queueControl) pick() bool {
	p := math.Float64frombits(q.p.Load())
	return p > 0 && rand.Float64() < p
}

// update moves the probability by the delay d's error against the target and its change since the last update.
func (q *queueControl) update(d int64) {
	target := float64(q.target)
	errTerm := (float64(d) - target) / target
	trend := float64(d-q.prev.Swap(d)) / target
	p := math.Float64frombits(q.p.Load()) + queueControlAlpha*errTerm + queueControlBeta*trend
	q.p.Store(math.Float64bits(min(max(p, 0), 1)))
}

// probability is the current shed probability, for the metrics.
func (q *queueControl) probability() float64 { return math.Float64frombits(q.p.Load()) }
