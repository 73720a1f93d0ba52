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
// and past it while the cap is lifted, where a backlog stands past the budget and sparing would stop refusals
// altogether, are the old ones refused too. TestQueueControlModelStallsRefuseNoLater plays it. A request past
// the budget also makes the controller update at once instead of at its next interval: what the average has
// not shown yet (a sudden ramp, the backlog of a stall) engages it without delay.
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
// calls are paid either way). When even refusing two in three cannot bring the wait down, the backlog may be
// the callers' (their connection pools hold it, and it drains only as fast as riskd answers and refuses);
// refusing more would then only trade answers for refusals, down to none: the goodput collapse. At the cap
// riskd still spends about half its CPU on answers, and handles 1.5 times the rate it can answer.
//
// Why the cap lifts (floodShed). The cap is right only while the callers' backlog is bounded. A flood past
// what riskd handles at the cap (2 × the sustainable rate was 38,900/s against about 28,000/s) grows the
// callers' backlog without bound, and once its wait passes their timeout every answer comes after its caller
// gave up: the cap delays the collapse by seconds, it does not prevent it. riskd cannot tell the two apart by
// the waits it sees (the callers' connections bound them both), only by what refusing more does. So when the
// probability has stood at the cap with the average wait past the budget for liftAfter, the cap lifts to
// floodShed and the controller goes on as before: if refusing more brings the wait within the budget (the
// flood can be served: refusing nearly everything handles 1.94 times the answer rate), the cap stays lifted
// while it is needed and comes back when the probability falls below it; if the wait has not come within the
// budget liftFor after the lift, the cap comes back and holds for liftRetry. A lift costs nearly every answer
// while it lasts, so the callers whose backlog is bounded lose at most a tenth of the cap's answers to the
// probes (TestQueueControlModelClosedLoopKeepsTheCap), while a flood the cap could not serve is answered at
// what the CPU allows, in time, instead of not at all (TestQueueControlModelFloodPastTheCap). Past 1.94 times
// the answer rate no refusal policy serves the flood: refusing every request costs more CPU than there is.
//
// Every method is safe for concurrent use; the state is a few atomics, updated by one request an interval,
// and nothing allocates.
type queueControl struct {
	target time.Duration
	budget time.Duration // see Config.QueueBudget
	// delay is a moving average of the ages seen (ns), updated by every observed request: one request's age is
	// too noisy to steer by.
	delay atomic.Int64
	prev  atomic.Int64  // the average at the last update
	p     atomic.Uint64 // the shed probability, float64 bits
	next  atomic.Int64  // unix ns of the next update: one request per interval updates
	// lift is the state of the cap, in unix ns: 0 while the probability is below the cap or the wait within
	// the budget; −t while both have been at the cap and past it since t (a t in the future holds off the next
	// lift); +t while the cap is lifted, t being when it was lifted or the wait last came within the budget.
	lift atomic.Int64
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
	// floodShed is the cap while it is lifted: one request in 33 is still answered, which keeps feeding the
	// controller the waits it steers by (it sees only the requests it does not refuse), and riskd handles
	// 1/(s + (1−p)(a−s)) = 1.94 times the rate it can answer (a refusal s at half an answer a), against 1.5
	// times at maxShed.
	floodShed = 0.97
	// liftAfter is how long the probability must stay at maxShed with the wait past the budget before the cap
	// is lifted: longer than the backlog of the model's 15 ms stalls takes to clear at the cap at 1.3 times the
	// answer rate (they lift nothing there), short against the seconds a flood takes to push the callers'
	// backlog past their timeout: the backlog built before the lift must drain before the wait falls.
	liftAfter = 100 * time.Millisecond
	// liftFor is how long a lifted cap waits for the wait to come within the budget before it comes back down:
	// the backlog of liftAfter at the cap drains within it up to 1.85 times the answer rate in the model (at
	// 1.88 it does not: refusing nearly everything handles only a little more). A wait that refusing nearly
	// everything does not bring down is not riskd's to clear (the callers' connections hold it, or a stamp is
	// skewed), and refusing more would only trade answers for refusals.
	liftFor = time.Second
	// liftRetry is how long after a lift that did not bring the wait down the cap holds before the next try:
	// such a probe answers nearly nothing for liftFor, a tenth of the time at most.
	liftRetry = 10 * time.Second
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
			q.update(d, t)
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
// within [0, maxShed], or [0, floodShed] while the cap is lifted (see queueControl), as of now (unix ns):
// clamping the state itself keeps a long flood from winding it up past the cap, from where it would take as
// long to come down.
func (q *queueControl) update(d, now int64) {
	target := float64(q.target)
	errTerm := (float64(d) - target) / target
	trend := float64(d-q.prev.Swap(d)) / target
	lift := q.lift.Load()
	ceiling := maxShed
	if lift > 0 {
		ceiling = floodShed
	}
	p := min(max(math.Float64frombits(q.p.Load())+queueControlAlpha*errTerm+queueControlBeta*trend, 0), ceiling)
	lift = q.nextLift(lift, p, d > int64(q.budget), now)
	if lift <= 0 {
		p = min(p, maxShed)
	}
	q.lift.Store(lift)
	q.p.Store(math.Float64bits(p))
}

// nextLift is the cap's next state (queueControl.lift) from state s, given the probability p as just updated,
// whether the average wait is past the budget, and the time now.
func (q *queueControl) nextLift(s int64, p float64, past bool, now int64) int64 {
	switch {
	case s > 0: // lifted
		switch {
		case p < maxShed: // the cap holds the wait again: the flood is served, or over
			return 0
		case !past: // refusing more brings the wait down: the flood can be served
			return now
		case now-s >= int64(liftFor): // it does not: back to the cap, and not again for a while
			return -(now + int64(liftRetry))
		}
		return s
	case p >= maxShed && past:
		if s == 0 {
			return -now
		}
		if now+s >= int64(liftAfter) { // at the cap and past the budget since −s
			return now
		}
		return s
	case -s > now: // holding off after a lift that did not bring the wait down
		return s
	}
	return 0
}

// probability is the current shed probability, for the metrics.
func (q *queueControl) probability() float64 { return math.Float64frombits(q.p.Load()) }
