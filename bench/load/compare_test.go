package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// stepResult is a sustain step at rate r whose hold had p99 p99 in every second and everything else clean.
func stepResult(r float64, p99 time.Duration) runResult {
	res := runResult{Profile: sustainProfile(r), Phases: make([]phaseResult, 4)}
	res.Phases[2] = phaseResult{Offered: 1000, Accepted: 1000, P99: p99}
	for i := range int(sustainHold / time.Second) {
		res.Seconds = append(res.Seconds, secondResult{At: time.Duration(2+i) * time.Second, Phase: "hold", P99: p99})
	}
	return res
}

// stalled is step with its first n seconds' p99 at 30 ms, as a scheduling stall of the machine leaves them, and
// the hold's p99 with them.
func stalled(step runResult, n int) runResult {
	step.Seconds = slices.Clone(step.Seconds)
	for i := range n {
		step.Seconds[i].P99 = 30 * time.Millisecond
	}
	step.Phases = slices.Clone(step.Phases)
	step.Phases[2].P99 = 30 * time.Millisecond
	return step
}

// TestSustainedToleratesAStalledSecond: one second of six past the bound (a stall of the machine) does not fail
// a step whose other seconds kept within it; two do, and so does a step that failed anything but latency.
func TestSustainedToleratesAStalledSecond(t *testing.T) {
	const bound = 6 * time.Millisecond
	clean := stepResult(20_000, 3*time.Millisecond)
	if !sustained(stalled(clean, 1), bound) {
		t.Fatal("a step with one stalled second of six failed")
	}
	if sustained(stalled(clean, 2), bound) {
		t.Fatal("a step with two seconds of six past the bound passed")
	}
	if !keptUp(stalled(clean, 6).Phases[2]) {
		t.Fatal("a step failing on latency alone does not count as having kept up")
	}
	shed := stalled(clean, 1)
	shed.Phases[2].Shed = 1
	if sustained(shed, bound) || keptUp(shed.Phases[2]) {
		t.Fatal("a step that shed a request passed")
	}
}

// TestFindSustainableRetriesAStalledStep: a step that failed on latency alone in a third of its seconds (two
// stalls) at a rate riskd sustains is run again, and the search goes on from its second run instead of
// halving the rate; every such step, not only the first. A step past what riskd sustains, failed in every
// second, is not run again.
func TestFindSustainableRetriesAStalledStep(t *testing.T) {
	const limit = 30_000.0
	calls := map[float64]int{}
	got, steps, err := findSustainable(40_000, 6*time.Millisecond, func(r float64) (runResult, error) {
		calls[r]++
		res := stepResult(r, 2*time.Millisecond)
		if r > limit {
			return stalled(res, 6), nil // not sustained: every second past the bound
		}
		if calls[r] == 1 && (r == 28_000 || r == 29_500) { // the first and fourth steps, caught by stalls
			return stalled(res, 2), nil
		}
		return res, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls[28_000] != 2 || calls[29_500] != 2 || len(steps) != sustainSteps+2 {
		t.Fatalf("steps %v, %d in all; want 28,000 and 29,500 run twice, the others once: %d steps", calls, len(steps), sustainSteps+2)
	}
	for r, n := range calls {
		if r > limit && n != 1 {
			t.Fatalf("the unsustained step %.0f run %d times", r, n)
		}
	}
	if got < 29_500 || got > limit {
		t.Fatalf("sustainable %.0f, want between the retried step 29,500 and the limit %.0f", got, limit)
	}
}

// TestFindSustainableBisects: the search settles on the highest rate that kept its p99 within the bound,
// below the closed-loop capacity, in sustainSteps steps.
func TestFindSustainableBisects(t *testing.T) {
	const limit = 30_000.0 // the fake server keeps up to here
	var tried []float64
	got, steps, err := findSustainable(50_000, 3*time.Millisecond, func(r float64) (runResult, error) {
		tried = append(tried, r)
		if r <= limit {
			return stepResult(r, time.Millisecond), nil
		}
		return stepResult(r, 40*time.Millisecond), nil
	})
	if err != nil || len(steps) != sustainSteps { // every failed step failed in every second: none run again
		t.Fatalf("err %v, %d steps", err, len(steps))
	}
	if got > limit || got < 0.9*limit {
		t.Fatalf("sustainable %.0f after trying %v, want the highest passing rate near %.0f", got, tried, limit)
	}
	if tried[0] != 35_000 {
		t.Fatalf("first step %.0f, want 70 %% of the capacity", tried[0])
	}
	got, _, _ = findSustainable(50_000, 3*time.Millisecond, func(r float64) (runResult, error) {
		return stepResult(r, time.Second), nil
	})
	if got != 0 {
		t.Fatalf("no step passes, sustainable %.0f, want 0", got)
	}
}

// TestSustainedNeedsEverythingAnswered: a step with low latency still fails when anything was shed, failed,
// dropped, left unanswered, or sent late by the generator.
func TestSustainedNeedsEverythingAnswered(t *testing.T) {
	for name, spoil := range map[string]func(*phaseResult){
		"shed":       func(p *phaseResult) { p.Shed = 1 },
		"errors":     func(p *phaseResult) { p.Errors = 1 },
		"dropped":    func(p *phaseResult) { p.Dropped = 1 },
		"unanswered": func(p *phaseResult) { p.Accepted = 980 },
		"late":       func(p *phaseResult) { p.Late = 20 },
	} {
		r := stepResult(1000, time.Millisecond)
		if !sustained(r, 3*time.Millisecond) {
			t.Fatal("a clean step does not pass")
		}
		spoil(&r.Phases[2])
		if sustained(r, 3*time.Millisecond) {
			t.Fatalf("a step with %s passes", name)
		}
	}
	if slow := stepResult(1000, 4*time.Millisecond); sustained(slow, 3*time.Millisecond) {
		t.Fatal("a step with its p99 past the bound in every second passes")
	}
	noSeconds := stepResult(1000, time.Millisecond)
	noSeconds.Seconds = nil
	noSeconds.Phases[2].P99 = 4 * time.Millisecond
	if sustained(noSeconds, 3*time.Millisecond) {
		t.Fatal("a step without per-second figures and its hold's p99 past the bound passes")
	}
}

func TestParseFactors(t *testing.T) {
	if f, err := parseFactors("1.1, 2"); err != nil || len(f) != 2 || f[0] != 1.1 || f[1] != 2 {
		t.Fatalf("%v %v", f, err)
	}
	for _, bad := range []string{"", "0", "-1", "x", "1.1,", "NaN", "1000"} {
		if _, err := parseFactors(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func TestQuantile(t *testing.T) {
	v := []float64{5, 1, 4, 2}
	if quantile(v, 0) != 1 || quantile(v, 1) != 5 || quantile(v, 0.5) != 3 {
		t.Fatalf("min %v median %v max %v", quantile(v, 0), quantile(v, 0.5), quantile(v, 1))
	}
	if v[0] != 5 {
		t.Fatal("quantile sorted its argument")
	}
}

// TestDistributionCountsRunsMeetingEachTarget: a target met in some runs only is a MISS over the runs.
func TestDistributionCountsRunsMeetingEachTarget(t *testing.T) {
	run := func(sustainable float64) comparison {
		return comparison{sustainable: sustainable, sustainSteps: []runResult{stepResult(sustainable, time.Millisecond)}}
	}
	c := config{}
	var b bytes.Buffer
	c.writeDistribution(&b, []comparison{run(1000), run(0), run(2000)})
	out := b.String()
	if !strings.Contains(out, "| a sustainable rate was found | 2 of 3 | **MISS** |") {
		t.Fatalf("distribution:\n%s", out)
	}
	if !strings.Contains(out, "| **median** |") {
		t.Fatalf("no median row:\n%s", out)
	}
}

// TestOverloadPastSustainableByLatencyIsTested: an overload hold in which riskd's core was not saturated and
// nothing was shed, but whose p99 was past the sustainable bound in most seconds, is past the sustainable
// rate as the targets define it, and is judged; the same hold within the bound was not an overload, and its
// targets are marked not measured.
func TestOverloadPastSustainableByLatencyIsTested(t *testing.T) {
	hold := func(p99 time.Duration) overloadRun {
		res := stepResult(1100, p99)
		res.Phases[2].Usage = usage{serverOK: true, serverCPU: 75, ok: true}
		res.Phases[2].Sent = res.Phases[2].Offered
		res.Total = res.Phases[2]
		return overloadRun{factor: 1.1, base: 1000, res: res}
	}
	judged := func(o overloadRun) (tested, notMeasured int) {
		cmp := comparison{sustainable: 1000, sustainBound: 6 * time.Millisecond, overloads: []overloadRun{o}}
		for _, v := range cmp.verdicts() {
			if !strings.HasPrefix(v.target, "overload") || strings.Contains(v.target, "past its sustainable rate") {
				continue
			}
			if strings.HasPrefix(v.state, "MISS (not measured") {
				notMeasured++
			} else {
				tested++
			}
		}
		return tested, notMeasured
	}
	if tested, skipped := judged(hold(8 * time.Millisecond)); tested == 0 || skipped != 0 {
		t.Fatalf("p99 past the bound in every second: %d targets judged, %d not measured", tested, skipped)
	}
	if tested, skipped := judged(hold(2 * time.Millisecond)); tested != 0 || skipped == 0 {
		t.Fatalf("p99 within the bound, core at 75 %%: %d targets judged, %d not measured", tested, skipped)
	}
}

// TestOverloadCollapseIsJudged: a hold in which riskd's backlog passed the callers' timeout (sent requests not
// answered within it, the generator's own backlog expiring behind them, so that it fell behind its schedule)
// is riskd's collapse, and its targets are judged and missed, not marked not measured; a hold the generator
// fell behind on without riskd leaving requests unanswered still is not measured.
func TestOverloadCollapseIsJudged(t *testing.T) {
	hold := func(unanswered uint64) overloadRun {
		res := stepResult(2000, time.Second)
		h := &res.Phases[2]
		h.Usage = usage{serverOK: true, serverCPU: 60, ok: true}
		h.Offered, h.Sent, h.Accepted, h.Answered, h.Shed = 38_000, 10_000, 1_500, 1_500, 2_000
		h.Unanswered = unanswered
		h.Errors, h.Timeouts = 28_000+unanswered, 28_000+unanswered
		h.LagP99, h.From, h.To = time.Second, 10*time.Second, 30*time.Second
		h.P99, h.ShedP99 = 973*time.Millisecond, 994*time.Millisecond
		res.Total = *h
		return overloadRun{factor: 2, base: 19_000, res: res}
	}
	states := func(o overloadRun) map[string]int {
		cmp := comparison{sustainable: 19_000, sustainBound: 6 * time.Millisecond, overloads: []overloadRun{o}}
		n := map[string]int{}
		for _, v := range cmp.verdicts() {
			if strings.HasPrefix(v.target, "overload") && !strings.Contains(v.target, "past its sustainable rate") {
				if v.pass {
					t.Fatalf("%s: %s passed", v.target, v.figure)
				}
				n[v.state]++
			}
		}
		return n
	}
	if n := states(hold(6_500)); n[stateMiss] != 5 {
		t.Fatalf("6,500 of 10,000 sent requests unanswered: verdicts %v, want 5 judged and missed", n)
	}
	if n := states(hold(0)); n[stateMiss] != 0 {
		t.Fatalf("the generator behind with every sent request answered: verdicts %v, want none judged", n)
	}
}
