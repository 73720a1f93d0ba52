package server

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestQueueControlHoldsTheDelay: ages above the target raise the shed probability, the more the further
// above; ages below it bring the probability back to nothing, and then nothing is shed.
func TestQueueControlHoldsTheDelay(t *testing.T) {
	const target = 2 * time.Millisecond
	q := newQueueControl(target, 2*target)
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1_700_000_000, 0)
	feed := func(age time.Duration, d time.Duration) (shed int) {
		for end := now.Add(d); now.Before(end); now = now.Add(50 * time.Microsecond) { // 20 requests a millisecond
			if q.pick(rng.Float64()) {
				shed++
			} else {
				q.observe(age, now)
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
	if high := q.probability(); low <= 0.05 || high <= low {
		t.Fatalf("at twice the target: probability %.2f after 20 ms, %.2f after 40 ms; want it rising from above 0.05", low, high)
	}
	if shed := feed(3*target, 40*time.Millisecond); shed < 100 {
		t.Fatalf("at three times the target, %d of 800 requests shed", shed)
	}
	feed(0, 200*time.Millisecond)
	if p := q.probability(); p != 0 {
		t.Fatalf("back below the target for 200 ms: probability %.2f, want 0", p)
	}
	if shed := feed(0, 10*time.Millisecond); shed != 0 {
		t.Fatalf("below the target, %d requests shed", shed)
	}
}

// TestQueueControlReactsWithinUpdates: from idle, a standing wait of twice the target moves the probability at
// the first update and to a shed of about half within 150 updates; a flood that keeps the wait at twenty times
// the target never takes it past maxShed; waits back under the target bring it to zero.
func TestQueueControlReactsWithinUpdates(t *testing.T) {
	const target = 2500 * time.Microsecond
	q := newQueueControl(target, 2*target)
	now := time.Unix(1_700_000_000, 0)
	updates := func(n int, age time.Duration) {
		for range n { // 10 requests an update
			for range 10 {
				q.observe(age, now)
				now = now.Add(queueControlInterval / 10)
			}
		}
	}
	updates(1, 2*target)
	if p := q.probability(); p <= 0 {
		t.Fatal("after an update at twice the target the probability is still 0")
	}
	updates(19, 2*target)
	if p := q.probability(); p < 0.1 {
		t.Fatalf("after 20 updates at twice the target: probability %.3f, want ≥ 0.1", p)
	}
	updates(130, 2*target)
	if p := q.probability(); p < 0.45 {
		t.Fatalf("after 150 updates at twice the target: probability %.3f, want ≥ 0.45", p)
	}
	for range 100 {
		updates(10, 20*target)
		if p := q.probability(); p > maxShed {
			t.Fatalf("a flood took the probability to %.3f, past the cap %.3f", p, maxShed)
		}
	}
	if p := q.probability(); p != maxShed {
		t.Fatalf("1,000 updates at twenty times the target: probability %.3f, want the cap %.3f", p, maxShed)
	}
	updates(250, 0)
	if p := q.probability(); p != 0 {
		t.Fatalf("250 updates without a wait: probability %.3f, want 0", p)
	}
}

// TestQueueControlPastTheBudgetUpdatesAtOnce: a request observed past the budget while nothing is shed engages
// the controller at once, not at its next interval: the first requests of a sudden backlog are refused at random
// rather than left to the budget.
func TestQueueControlPastTheBudgetUpdatesAtOnce(t *testing.T) {
	const target = 2500 * time.Microsecond
	q := newQueueControl(target, 2*target)
	now := time.Unix(1_700_000_000, 0)
	q.observe(100*time.Microsecond, now) // an update: the next is due in a millisecond
	for i := range 5 {
		now = now.Add(10 * time.Microsecond)
		q.observe(4*target, now)
		if i == 0 && q.probability() == 0 {
			t.Fatal("a request past the budget left the probability at 0 until the next interval")
		}
	}
}

// TestQueueControlStallMovesItLittle: below capacity, a scheduling stall of 20 ms leaves a backlog whose
// requests waited up to 20 ms, read within 2 ms: the controller sheds only a few of them and forgets the stall
// within 100 ms. (The budget alone refused every one past it.)
func TestQueueControlStallMovesItLittle(t *testing.T) {
	const target = 2500 * time.Microsecond
	q := newQueueControl(target, 2*target)
	rng := rand.New(rand.NewPCG(3, 4))
	now := time.Unix(1_700_000_000, 0)
	for range 300 { // 3,000 requests a second, answered at once
		q.observe(100*time.Microsecond, now)
		now = now.Add(333 * time.Microsecond)
	}
	now = now.Add(20 * time.Millisecond) // riskd stalled: nothing read
	shed, peak := 0, 0.0
	const backlog = 60
	for i := range backlog { // read within 2 ms, the oldest first
		now = now.Add(2 * time.Millisecond / backlog)
		if q.pick(rng.Float64()) {
			shed++
		} else {
			q.observe(20*time.Millisecond*time.Duration(backlog-i)/backlog+100*time.Microsecond, now)
		}
		peak = max(peak, q.probability())
	}
	for range 300 {
		q.observe(100*time.Microsecond, now)
		now = now.Add(333 * time.Microsecond)
		peak = max(peak, q.probability())
	}
	t.Logf("stall: %d of %d shed, peak probability %.3f", shed, backlog, peak)
	if shed > backlog/5 || peak > 0.3 {
		t.Fatalf("a 20 ms stall below capacity: %d of %d requests shed, probability up to %.3f", shed, backlog, peak)
	}
	if p := q.probability(); p != 0 {
		t.Fatalf("100 ms after the stall: probability %.3f, want 0", p)
	}
}

// queueModel plays a single FIFO server under a queue controller: requests arrive every gap; a caller holding
// at most conns requests outstanding sends (and stamps) each when it arrives or, with every connection busy,
// when the request conns earlier is answered; the server answers in answer and refuses in shed. It returns,
// over the requests started after warm, the answered rate per second and the latencies (stamp to answer) of
// the answered and the shed requests.
type queueModel struct {
	gap, answer, shed time.Duration
	conns, requests   int
	warm              time.Duration
	// stallEvery and stallFor, when set, stop the server for stallFor every stallEvery, as the machine's
	// scheduling stalls do.
	stallEvery, stallFor time.Duration
}

func (m queueModel) run(q *queueControl, seed uint64) (answered float64, acceptedWaits, shedWaits []time.Duration) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	epoch := time.Unix(1_700_000_000, 0)
	done := make([]time.Duration, m.conns) // ring: when the request conns earlier ended
	var free time.Duration                 // when the server is next free
	var first, last time.Duration
	n := 0
	for i := range m.requests {
		arrive := time.Duration(i) * m.gap
		sent := max(arrive, done[i%m.conns])
		start := max(sent, free)
		if m.stallEvery > 0 && start%m.stallEvery < m.stallFor {
			start += m.stallFor - start%m.stallEvery
		}
		wait := start - sent
		cost := m.answer
		refused := q.pick(rng.Float64()) && !q.spare(wait) // as Server.stale decides
		if refused {
			cost = m.shed
		} else {
			q.observe(wait, epoch.Add(start))
		}
		free = start + cost
		done[i%m.conns] = free
		if start < m.warm {
			continue
		}
		if first == 0 {
			first = start
		}
		last = start
		if refused {
			shedWaits = append(shedWaits, wait+cost)
		} else {
			n++
			acceptedWaits = append(acceptedWaits, wait+cost)
		}
	}
	return float64(n) / (last - first).Seconds(), acceptedWaits, shedWaits
}

func p99(waits []time.Duration) time.Duration {
	if len(waits) == 0 {
		return 0
	}
	s := slices.Clone(waits)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// TestQueueControlModelOverload: in the model, at 1.3 times the rate riskd can answer (a refusal costing half an
// answer), the controller answers what the arithmetic of docs/OVERLOAD.md allows, holds the wait near the
// target, and refuses at random: refused requests did not wait longer than answered ones.
func TestQueueControlModelOverload(t *testing.T) {
	const target = 2500 * time.Microsecond
	const answer = 40 * time.Microsecond // 25,000 answers a second
	m := queueModel{gap: answer * 10 / 13, answer: answer, shed: answer / 2, conns: 1024, requests: 150_000,
		warm: time.Second}
	answered, acc, shed := m.run(newQueueControl(target, 2*target), 1)
	// A·a + S·s = 1 with A + S the offered 32,500/s: A = 17,500/s when nothing else is lost.
	t.Logf("answered %.0f/s, %d shed; accepted p99 %v, shed p99 %v", answered, len(shed), p99(acc), p99(shed))
	if answered < 0.9*17_500 {
		t.Fatalf("answered %.0f/s, want near 17,500/s", answered)
	}
	if p99(acc) > 4*target {
		t.Fatalf("accepted p99 %v, want within 4 × the target %v", p99(acc), target)
	}
	if p99(shed) > p99(acc)+p99(acc)/10 {
		t.Fatalf("shed p99 %v, accepted p99 %v: refusals came back later", p99(shed), p99(acc))
	}
}

// TestQueueControlModelStallsRefuseNoLater: in the model, with the server stopped for 15 ms every 700 ms (the
// machine's scheduling stalls), below capacity refusals come back no later than answers (p99): the requests
// caught in a stall's backlog, which the controller's rise after the stall would otherwise pick for refusal
// (shed p99 14.5 ms against accepted 11.7 ms at 0.75 × without sparing them), have waited past the budget and
// are answered instead. Past capacity the probability reaches its cap after a stall, where the backlog's
// requests are refused again; refusals then come back within a few per cent of answers.
func TestQueueControlModelStallsRefuseNoLater(t *testing.T) {
	const target = 2500 * time.Microsecond
	const answer = 40 * time.Microsecond // 25,000 answers a second
	for _, load := range []float64{0.75, 0.9, 1.3} {
		m := queueModel{gap: time.Duration(float64(answer) / load), answer: answer, shed: answer / 2, conns: 1024,
			requests: int(250_000 * load), warm: time.Second, stallEvery: 700 * time.Millisecond, stallFor: 15 * time.Millisecond}
		answered, acc, shed := m.run(newQueueControl(target, 2*target), 5)
		t.Logf("%.2f × capacity: answered %.0f/s, %d shed; accepted p99 %v, shed p99 %v", load, answered, len(shed), p99(acc), p99(shed))
		if len(shed) < 1000 {
			t.Fatalf("%.2f × capacity: %d shed, too few to compare", load, len(shed))
		}
		late := p99(acc)
		if load > 1 {
			late += late / 20
		}
		if p99(shed) > late {
			t.Fatalf("%.2f × capacity: shed p99 %v, accepted p99 %v: refusals came back later", load, p99(shed), p99(acc))
		}
	}
}

// TestQueueControlModelFlood: in the model, a flood at three times the rate riskd can answer, more than it
// can even refuse, fills the caller's 1,024 connections; the probability stops at its cap and riskd keeps
// answering half of what it can, instead of refusing everything (answering nothing) while the wait stays
// past the target: the collapse the cap bounds.
func TestQueueControlModelFlood(t *testing.T) {
	const target = 2500 * time.Microsecond
	const answer = 40 * time.Microsecond
	m := queueModel{gap: answer / 3, answer: answer, shed: answer / 2, conns: 1024, requests: 200_000,
		warm: time.Second}
	q := newQueueControl(target, 2*target)
	answered, acc, shed := m.run(q, 2)
	t.Logf("answered %.0f/s, %d shed, probability %.3f; accepted p99 %v", answered, len(shed), q.probability(), p99(acc))
	// At the cap, a third answered at a, two thirds refused at a/2: 1/(2a) = 12,500/s.
	if answered < 0.9*12_500 {
		t.Fatalf("a flood: answered %.0f/s, want at least 90 %% of half the answer capacity (12,500/s)", answered)
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

// TestQueueTargetSparesThePastBudget: with the controller engaged below its cap, a request the draw picks is
// refused when fresh and answered when it already waited past the budget (it is late either way; refusing it
// would make refusals the latest answers); at the cap both are refused at random. The requests fail
// authentication, so that none moves the probability.
func TestQueueTargetSparesThePastBudget(t *testing.T) {
	s := newTestServerWith(t, func(c *Config) { c.QueueBudget, c.QueueTarget = 5*time.Millisecond, 2*time.Millisecond })
	kr, err := ParseKeyring([]byte("keys:\n  - {name: idp, sha256: " + HashSecret("rk_idp") + ", scopes: [decide]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s.keys.Store(kr)
	const each = 300
	const fresh, old = 100 * time.Microsecond, time.Second
	refused := func(p float64) map[time.Duration]int {
		s.queue.p.Store(math.Float64bits(p))
		shed := map[time.Duration]int{}
		for i := range 2 * each {
			age := fresh
			if i%2 == 1 {
				age = old
			}
			ctx := decideCtx(`{"type":"login","user_id":"cy","ip":"216.160.83.56","credentials_valid":true}`)
			ctx.Request.Header.Set(fasthttp.HeaderAuthorization, "Bearer rk_forged")
			ctx.Request.Header.Set(HeaderRequestStart, strconv.FormatInt(time.Now().Add(-age).UnixMicro(), 10))
			s.Handle(ctx)
			switch ctx.Response.StatusCode() {
			case fasthttp.StatusServiceUnavailable:
				shed[age]++
			case fasthttp.StatusUnauthorized:
			default:
				t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
		return shed
	}
	if shed := refused(0.5); shed[fresh] < each*3/10 || shed[fresh] > each*7/10 || shed[old] != 0 {
		t.Fatalf("at probability 0.5, refused %d of %d fresh and %d of %d past the budget; want about half and none",
			shed[fresh], each, shed[old], each)
	}
	if shed := refused(maxShed); shed[fresh] < each/2 || shed[old] < each/2 {
		t.Fatalf("at the cap, refused %d of %d fresh and %d of %d past the budget; want about two thirds of both",
			shed[fresh], each, shed[old], each)
	}
	if s.shedLate.Get() != 0 {
		t.Fatalf("%d counted as shed by the budget", s.shedLate.Get())
	}
}
