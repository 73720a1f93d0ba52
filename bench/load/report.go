package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// phaseResult is what a phase (or a run) measured.
type phaseResult struct {
	Name       string
	From, To   time.Duration // offsets from the run's start
	Offered    uint64        // requests scheduled
	Sent       uint64        // requests the generator sent: offered, less dropped and expired in its backlog
	Accepted   uint64        // answered with a decision
	Answered   uint64        // accepted answers that arrived during the phase: the throughput's numerator
	Shed       uint64
	Errors     uint64
	Timeouts   uint64 // of the errors: timed out, or expired in the backlog
	Unanswered uint64 // of the timeouts: sent, and not answered within the timeout
	Late       uint64 // sent more than lateAfter after their scheduled time
	Dropped    uint64 // never sent: the backlog was full
	P50, P90   time.Duration
	P99, P999  time.Duration
	Max        time.Duration
	ServiceP99 time.Duration // from the actual send: the server's share
	LagP99     time.Duration // the generator's lateness
	ShedP99    time.Duration // how long refusals took
	Stalls     uint64        // stalls of the generator's process longer than hiccupFloor
	MaxStall   time.Duration
	Usage      usage
}

func (p phaseResult) seconds() float64 { return (p.To - p.From).Seconds() }

// OfferedRate, SentRate and Throughput are per second of the phase.
func (p phaseResult) OfferedRate() float64 { return float64(p.Offered) / p.seconds() }
func (p phaseResult) SentRate() float64    { return float64(p.Sent) / p.seconds() }
func (p phaseResult) Throughput() float64  { return float64(p.Answered) / p.seconds() }

// secondResult is one row of the per-second CSV and one point of the plots.
type secondResult struct {
	At                                    time.Duration
	Phase                                 string
	Offered, Accepted, Errors, Shed, Late uint64
	Dropped                               uint64
	P50, P90, P99, P999, Max              time.Duration
	ShedP99                               time.Duration // of the shed answers that arrived in this second
	Stall                                 time.Duration // the longest stall of the generator's process
	Usage                                 usage
}

// runResult is everything one run of a profile measured.
type runResult struct {
	Label    string
	Profile  Profile
	Phases   []phaseResult
	Total    phaseResult // all phases but a warm-up
	Seconds  []secondResult
	Kinds    [numKinds]uint64
	Failures []string
	RSSStart uint64 // the server's, when known
	RSSEnd   uint64
	RSSMax   uint64
}

// summarize turns what the recorder and the sampler collected into results.
func summarize(label string, p Profile, rec *Recorder, samples []sample, end time.Duration) runResult {
	res := runResult{Label: label, Profile: p, Failures: rec.Failures()}
	for k := range res.Kinds {
		res.Kinds[k] = rec.kinds[k].Load()
	}
	total := &phaseStats{}
	var totalFrom time.Duration = -1
	for i, ph := range p.Phases {
		from := p.PhaseStart(i)
		st := rec.phases[i]
		res.Phases = append(res.Phases, phaseFrom(ph.Name, from, from+ph.Duration, st, samples))
		if ph.Name == "warmup" {
			continue
		}
		if totalFrom < 0 {
			totalFrom = from
		}
		mergeStats(total, st)
	}
	res.Total = phaseFrom("all", max(totalFrom, 0), p.Duration(), total, samples)

	last := int((end + time.Second - 1) / time.Second)
	for i := 0; i < last && i < len(rec.seconds); i++ {
		s := rec.seconds[i].Load()
		if s == nil {
			s = &second{}
		}
		at := time.Duration(i) * time.Second
		res.Seconds = append(res.Seconds, secondResult{
			At: at, Phase: p.Phases[p.PhaseAt(at)].Name,
			Offered: s.offered.Load(), Accepted: s.accepted.Load(), Errors: s.errors(), Shed: s.shed.Load(),
			Late: s.late.Load(), Dropped: s.dropped.Load(),
			P50: s.latency.Quantile(0.5), P90: s.latency.Quantile(0.9), P99: s.latency.Quantile(0.99),
			P999: s.latency.Quantile(0.999), Max: s.latency.Max(), ShedP99: s.shedLat.Quantile(0.99),
			Stall: time.Duration(s.stall.Load()),
			Usage: usageBetween(samples, at, at+time.Second),
		})
	}
	for _, s := range samples {
		if !s.serverOK {
			continue
		}
		if res.RSSStart == 0 {
			res.RSSStart = s.server.rss
		}
		res.RSSEnd = s.server.rss
		res.RSSMax = max(res.RSSMax, s.server.rss)
	}
	return res
}

func phaseFrom(name string, from, to time.Duration, st *phaseStats, samples []sample) phaseResult {
	return phaseResult{
		Name: name, From: from, To: to,
		Offered: st.offered.Load(), Accepted: st.accepted.Load(), Answered: st.throughput.Load(),
		Sent: st.accepted.Load() + st.shed.Load() + st.badStatus.Load() + st.timedOut.Load() + st.transport.Load(),
		Shed: st.shed.Load(), Errors: st.errors(), Timeouts: st.timedOut.Load() + st.expired.Load(),
		Unanswered: st.timedOut.Load(),
		Late:       st.late.Load(), Dropped: st.dropped.Load(),
		P50: st.latency.Quantile(0.5), P90: st.latency.Quantile(0.9), P99: st.latency.Quantile(0.99),
		P999: st.latency.Quantile(0.999), Max: st.latency.Max(),
		ServiceP99: st.service.Quantile(0.99), LagP99: st.lag.Quantile(0.99), ShedP99: st.shedWait.Quantile(0.99),
		Stalls: st.stalls.Count(), MaxStall: st.stalls.Max(),
		Usage: usageBetween(samples, from, to),
	}
}

// mergeStats adds b's counts and histograms into a.
func mergeStats(a, b *phaseStats) {
	a.offered.Add(b.offered.Load())
	a.accepted.Add(b.accepted.Load())
	a.shed.Add(b.shed.Load())
	a.badStatus.Add(b.badStatus.Load())
	a.timedOut.Add(b.timedOut.Load())
	a.transport.Add(b.transport.Load())
	a.expired.Add(b.expired.Load())
	a.late.Add(b.late.Load())
	a.dropped.Add(b.dropped.Load())
	a.throughput.Add(b.throughput.Load())
	a.latency.Merge(&b.latency)
	a.service.Merge(&b.service)
	a.shedWait.Merge(&b.shedWait)
	a.lag.Merge(&b.lag)
	a.stalls.Merge(&b.stalls)
}

// ms formats a latency in milliseconds with three significant digits.
func ms(d time.Duration) string {
	v := d.Seconds() * 1000
	switch {
	case d == 0:
		return "–"
	case v < 1:
		return fmt.Sprintf("%.3f", v)
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func mib(b uint64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

func pct(v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.0f %%", v)
}

// rate formats requests per second with thousands separators.
func rate(v float64) string { return thousands(uint64(v + 0.5)) }

func thousands(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// writeMarkdown prints a run's phase table and, under it, what the table cannot hold.
func writeMarkdown(w io.Writer, r runResult) {
	fmt.Fprintf(w, "**%s** (%s profile)\n\n", r.Label, r.Profile.Name)
	fmt.Fprintln(w, "| phase | s | offered/s | sent/s | answered/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | shed | late | dropped | server CPU | server RSS | generator CPU |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	rows := r.Phases
	if len(rows) > 1 {
		rows = append(rows[:len(rows):len(rows)], r.Total)
	}
	for _, p := range rows {
		offered := rate(p.OfferedRate())
		if r.Profile.Closed {
			offered = "closed loop"
		}
		name := p.Name
		if p.Name == "all" {
			name = "**all**"
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			name, p.seconds(), offered, rate(p.SentRate()), rate(p.Throughput()), ms(p.P50), ms(p.P90), ms(p.P99), ms(p.P999), ms(p.Max),
			thousands(p.Errors), thousands(p.Shed), thousands(p.Late), thousands(p.Dropped),
			pct(p.Usage.serverCPU, p.Usage.serverOK), mib(p.Usage.serverRSS), pct(p.Usage.genCPU, p.Usage.ok))
	}
	t := r.Total
	fmt.Fprintf(w, "\nServer time (from the actual send) p99 %s ms", ms(t.ServiceP99))
	if !r.Profile.Closed {
		fmt.Fprintf(w, "; generator send lag p99 %s ms", ms(t.LagP99))
	}
	switch {
	case r.Profile.Closed:
	case t.Stalls > 0:
		fmt.Fprintf(w, "; the generator's process stalled %d times over %v, at most %s ms", t.Stalls, hiccupFloor, ms(t.MaxStall))
	default:
		fmt.Fprintf(w, "; no stall of the generator's process over %v", hiccupFloor)
	}
	if t.Shed > 0 {
		fmt.Fprintf(w, "; shed answers p99 %s ms", ms(t.ShedP99))
	}
	if r.RSSEnd > 0 {
		fmt.Fprintf(w, "; server RSS %s at the start, %s at the end, %s at most", mib(r.RSSStart), mib(r.RSSEnd), mib(r.RSSMax))
	}
	if u := t.Usage; u.machineOK {
		fmt.Fprintf(w, "; kernel network processing (softirq) %.0f %% of a core; other processes on the machine %.0f %% of a core",
			u.softirqCPU, u.otherCPU)
	}
	fmt.Fprintf(w, ".\nTraffic:")
	var all uint64
	for _, n := range r.Kinds {
		all += n
	}
	for k, n := range r.Kinds {
		if n > 0 {
			fmt.Fprintf(w, " %s %.1f %%", eventKind(k), 100*float64(n)/float64(max(all, 1)))
		}
	}
	fmt.Fprintln(w, ".")
	if len(r.Failures) > 0 {
		fmt.Fprintf(w, "Errors: %s.\n", strings.Join(r.Failures, "; "))
	}
	fmt.Fprintln(w)
}
