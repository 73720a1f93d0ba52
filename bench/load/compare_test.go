package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// stepResult is a sustain step at rate r whose hold had p99 p99 and everything else clean.
func stepResult(r float64, p99 time.Duration) runResult {
	res := runResult{Profile: sustainProfile(r), Phases: make([]phaseResult, 4)}
	res.Phases[2] = phaseResult{Offered: 1000, Accepted: 1000, P99: p99}
	return res
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
	if err != nil || len(steps) != sustainSteps {
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
		"slow":       func(p *phaseResult) { p.P99 = 4 * time.Millisecond },
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
