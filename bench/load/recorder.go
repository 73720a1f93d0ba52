package main

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// outcome is how one scheduled request ended.
type outcome uint8

const (
	accepted  outcome = iota // a decision (2xx) that is not the fail policy
	shed                     // 429 or 503, or a decision carrying the fail_policy reason: the server refused the work fast
	badStatus                // any other status: a 4xx means the generator sent something wrong, a 5xx a server fault
	timedOut                 // no answer within the request timeout
	transport                // the connection failed (refused, reset, malformed answer)
	expired                  // waited in the generator's backlog longer than the request timeout and was never sent
)

// counters are the event counts of a phase or a second. Each is incremented atomically by the workers.
type counters struct {
	offered, accepted, shed, badStatus, timedOut, transport, expired, late, dropped atomic.Uint64
}

// errors is every request that failed: what the "zero errors" target counts. Shed requests are not errors;
// they are the server protecting itself.
func (c *counters) errors() uint64 {
	return c.badStatus.Load() + c.timedOut.Load() + c.transport.Load() + c.expired.Load()
}

func (c *counters) count(o outcome) {
	switch o {
	case accepted:
		c.accepted.Add(1)
	case shed:
		c.shed.Add(1)
	case badStatus:
		c.badStatus.Add(1)
	case timedOut:
		c.timedOut.Add(1)
	case transport:
		c.transport.Add(1)
	case expired:
		c.expired.Add(1)
	}
}

// phaseStats are the figures of one phase. Requests belong to the phase their scheduled send time falls in,
// so a phase's latencies are those of the traffic offered during it, even when answers arrive later; only
// throughput counts answers by when they arrived.
type phaseStats struct {
	counters
	throughput atomic.Uint64 // accepted answers that arrived during the phase
	latency    Histogram     // accepted answers, from the scheduled send time: what a client waits
	service    Histogram     // accepted answers, from the actual send: what the server took, queueing in the generator left out
	shedWait   Histogram     // shed answers, from the scheduled send time: how fast refusals come
	lag        Histogram     // actual send minus scheduled send: the generator's own lateness
	stalls     Histogram     // the generator's process stalls (see meterHiccups)
}

// second is one second of the run, by completion time for answers and by scheduled time for offers.
type second struct {
	counters
	latency Histogram    // accepted answers that arrived in this second, from their scheduled send time
	shedLat Histogram    // shed answers that arrived in this second, from their scheduled send time
	stall   atomic.Int64 // the longest stall of the generator's process that ended in this second, ns
}

// Recorder collects the outcomes of a run per phase and per second.
type Recorder struct {
	profile   Profile
	lateAfter time.Duration
	phases    []*phaseStats
	seconds   []atomic.Pointer[second] // allocated on first use: a 24 h soak must not hold 86,400 histograms up front
	kinds     [numKinds]atomic.Uint64

	mu       sync.Mutex
	failures map[string]int // distinct error messages, a handful, for the report
}

// maxFailureKinds bounds the distinct error messages kept: a storm of different errors must not grow memory.
const maxFailureKinds = 8

// newRecorder prepares a recorder for p; answers may arrive up to grace after its end.
func newRecorder(p Profile, lateAfter, grace time.Duration) *Recorder {
	r := &Recorder{profile: p, lateAfter: lateAfter, failures: map[string]int{}}
	for range p.Phases {
		r.phases = append(r.phases, &phaseStats{})
	}
	r.seconds = make([]atomic.Pointer[second], int((p.Duration()+grace)/time.Second)+2)
	return r
}

func (r *Recorder) second(at time.Duration) *second {
	i := min(max(int(at/time.Second), 0), len(r.seconds)-1)
	if s := r.seconds[i].Load(); s != nil {
		return s
	}
	s := &second{}
	if r.seconds[i].CompareAndSwap(nil, s) {
		return s
	}
	return r.seconds[i].Load()
}

func (r *Recorder) phase(at time.Duration) *phaseStats { return r.phases[r.profile.PhaseAt(at)] }

// Offered counts a request scheduled at offset at.
func (r *Recorder) Offered(at time.Duration) {
	r.phase(at).offered.Add(1)
	r.second(at).offered.Add(1)
}

// Built counts a request body of kind k, for the report's traffic mix.
func (r *Recorder) Built(k eventKind) { r.kinds[k].Add(1) }

// Dropped counts a scheduled request the generator could not even queue (its backlog was full).
func (r *Recorder) Dropped(at time.Duration) {
	r.phase(at).dropped.Add(1)
	r.second(at).dropped.Add(1)
}

// Done records a request scheduled at offset at, sent at sent and ended at done with outcome o.
func (r *Recorder) Done(at, sent, done time.Duration, o outcome) {
	p, s := r.phase(at), r.second(done)
	p.count(o)
	s.count(o)
	if o == expired {
		return
	}
	lag := sent - at
	p.lag.Record(lag)
	if lag > r.lateAfter {
		p.late.Add(1)
		r.second(at).late.Add(1)
	}
	switch o {
	case accepted:
		p.latency.Record(done - at)
		p.service.Record(done - sent)
		s.latency.Record(done - at)
		r.phase(done).throughput.Add(1)
	case shed:
		p.shedWait.Record(done - at)
		s.shedLat.Record(done - at)
	}
}

// Hiccup records a stall of the generator's process of length d that ended at offset at.
func (r *Recorder) Hiccup(at, d time.Duration) {
	r.phase(at).stalls.Record(d)
	s := r.second(at)
	for {
		m := s.stall.Load()
		if int64(d) <= m || s.stall.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// Failed keeps an error message for the report.
func (r *Recorder) Failed(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.failures[msg]; ok || len(r.failures) < maxFailureKinds {
		r.failures[msg]++
	}
}

// Failures are the error messages seen, most frequent first, with their counts.
func (r *Recorder) Failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs := make([]string, 0, len(r.failures))
	for m := range r.failures {
		msgs = append(msgs, m)
	}
	sort.Slice(msgs, func(i, j int) bool {
		a, b := r.failures[msgs[i]], r.failures[msgs[j]]
		return a > b || a == b && msgs[i] < msgs[j]
	})
	for i, m := range msgs {
		msgs[i] = fmt.Sprintf("%d× %s", r.failures[m], m)
	}
	return msgs
}
