package server

import (
	"math"
	"sync/atomic"
	"time"
)

// queueControl sheds a share of the stamped requests, at random, so as to hold the delay requests wait before
// reaching riskd (their X-Request-Start age) near a target: a PI controller in the manner of PIE (RFC 8033),
// fed the ages of the requests riskd admits.
//
// Only authenticated callers' ages are observed (Server.admit): the stamp is the caller's word, and the
// controller sheds across callers, so an anonymous flood of requests stamped an hour ago must not be able to
// make riskd shed the identity server's logins.
//
// Why the refusal is random, and spares the requests past the budget. riskd reads requests in about the order
// they arrived, and whatever it does with one, the wait it already had is in its latency. A rule that refuses
// by the request's own age (the queue budget alone) picks exactly the requests that waited longest, so
// refusals come back later than answers by construction: on the quiet machine, budget refusals were a tenth
// of all refusals at twice the capacity and made the whole tail of them (shed p99 18–30 ms against accepted p99
// 5 ms). So the controller picks requests at random. Random is not enough on its own: the probability rises
// when the waits do, after a scheduling stall of the machine above all, so the requests it picks come from the
// stall's backlog, and refusals were still 1.5–3 times later than answers (p99) at 1.1 and 2 times the
// sustainable rate. A picked request that already waited past the budget is therefore answered, not refused:
// it is late whatever riskd does, a refusal would spare its caller no wait and only make the refusals the
// slowest answers riskd gives, while an answer gives the caller the decision it waited for. The controller
// makes up the difference on the fresher requests (it sees the spared ones' waits). Only at the cap (maxShed),
// where a backlog stands past the budget and sparing would stop refusals altogether, are the old ones refused
// too. TestQueueControlModelStallsRefuseNoLater plays it. A request past the budget also makes the controller
// update at once instead of at its next interval: what the average has not shown yet (a sudden ramp, the
// backlog of a stall) engages it without delay.
//
// The stamp is read before the caller is authenticated (the refusal comes first to stay cheap), so anyone can
// stamp a request old to escape a refusal; what that buys is an authentication check, then a 401 for a caller
// without a key, at about the cost of the refusal it escaped. Authenticated callers' stamps are trusted already:
// they feed the controller.
//
// Why it reacts in tens of milliseconds, not in one. The machine stalls riskd or its caller for 2–25 ms many
// times a minute; a controller that followed each stall would shed mostly the requests caught in it, the old
// ones again. With these gains the backlog of a 20 ms stall below capacity lifts the probability to about a
// quarter for a few milliseconds and sheds a tenth of that backlog (TestQueueControlStallMovesItLittle), while a
// standing wait at twice the target raises it to a half in about 100 ms, and at the callers' connection bound
// (several times the target) in about 30 ms: well within a campaign's ramp of seconds. The change term (beta)
// damps the loop: without it the wait overshoots more (accepted wait p99 4.6 ms against 3.4 ms in
// TestQueueControlModelOverload).
//
// Why the probability is capped (maxShed). A refusal costs about half an answer (docs/OVERLOAD.md: the socket
// calls are paid either way). When even refusing two in three cannot bring the wait down, the backlog is the
// callers' (their connection pools hold it, and it drains only as fast as riskd answers and refuses); refusing
// more would then only trade answers for refusals, down to none: the goodput collapse. At the cap riskd still
// spends about half its CPU on answers, whatever the flood.
//
// Every method is safe for concurrent use; the state is a few atomics, and nothing allocates.
type queueControl struct {
	target time.Duration
	budget time.Duration // see Config.QueueBudget
	// delay is a moving average of the ages seen (ns), updated by every observed request: one request's age is
	// too noisy to steer by.
	delay atomic.Int64
	prev  atomic.Int64  // the average at the last update
	p     atomic.Uint64 // the shed probability, float64 bits
	next  atomic.Int64  // unix ns of the next update: one request per interval updates
}

const (
	// queueControlInterval is how often the probability moves; each update is a handful of atomic operations.
	queueControlInterval = time.Millisecond
	// The controller's gains, per update, on the delay's error and its change, both relative to the target: at
	// twice the target the probability rises by 0.005 a millisecond, to 0.5 in about 100 ms; a change of the
	// delay by the target moves it by 0.05 at once.
	queueControlAlpha = 0.005
	queueControlBeta  = 0.05
	// queueControlSmoothing is the weight, 1/n, of a new age in the moving average.
	queueControlSmoothing = 8
	// maxShed caps the probability (see queueControl).
	maxShed = 2.0 / 3
)

func newQueueControl(target, budget time.Duration) *queueControl {
	return &queueControl{target: target, budget: budget}
}

// observe records that a request waited age, as of now.
func (q *queueControl) observe(age time.Duration, now time.Time) {
	d := q.delay.Load()
	d += (int64(age) - d) / queueControlSmoothing // a lost update under contention is one sample less
	q.delay.Store(d)
	t := now.UnixNano()
	if n := q.next.Load(); t >= n || age > q.budget && q.probability() == 0 {
		if q.next.CompareAndSwap(n, t+int64(queueControlInterval)) {
			q.update(d)
		}
	}
}

// pick reports whether a request is a candidate for refusal, given u, a uniform draw from [0, 1): with the
// current probability. A candidate is refused unless spare says otherwise.
func (q *queueControl) pick(u float64) bool { return u < q.probability() }

// spare reports whether a candidate for refusal that waited age is answered instead: one that already waited
// past the budget, while the probability is below its cap (see queueControl).
func (q *queueControl) spare(age time.Duration) bool {
	return age > q.budget && q.probability() < maxShed
}

// update moves the probability by the delay d's error against the target and its change since the last update,
// within [0, maxShed]: clamping the state itself keeps a long flood from winding it up past the cap, from where
// it would take as long to come down.
func (q *queueControl) update(d int64) {
	target := float64(q.target)
	errTerm := (float64(d) - target) / target
	trend := float64(d-q.prev.Swap(d)) / target
	p := math.Float64frombits(q.p.Load()) + queueControlAlpha*errTerm + queueControlBeta*trend
	q.p.Store(math.Float64bits(min(max(p, 0), maxShed)))
}

// probability is the current shed probability, for the metrics.
func (q *queueControl) probability() float64 { return math.Float64frombits(q.p.Load()) }
