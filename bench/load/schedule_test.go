package main

import (
	"math"
	"testing"
	"time"
)

// arrivals runs a schedule to its end (bounded, so a bug cannot hang the test).
func arrivals(t *testing.T, p Profile, poisson bool) []time.Duration {
	t.Helper()
	s := newSchedule(p, poisson, 7)
	var out []time.Duration
	for range 10_000_000 {
		at, ok := s.Next()
		if !ok {
			if _, again := s.Next(); again {
				t.Fatal("schedule resumed after it ended")
			}
			return out
		}
		if n := len(out); n > 0 && at < out[n-1] {
			t.Fatalf("arrival %d at %v before the previous one at %v", n, at, out[n-1])
		}
		if at < 0 || at >= p.Duration() {
			t.Fatalf("arrival at %v outside the profile [0, %v)", at, p.Duration())
		}
		out = append(out, at)
	}
	t.Fatal("schedule did not end")
	return nil
}

func countIn(ts []time.Duration, from, to time.Duration) int {
	n := 0
	for _, t := range ts {
		if t >= from && t < to {
			n++
		}
	}
	return n
}

func TestUniformSteadyIsEvenlySpaced(t *testing.T) {
	ts := arrivals(t, steadyProfile(1000, 2*time.Second), false)
	if len(ts) != 2000 {
		t.Fatalf("%d arrivals, want 2000", len(ts))
	}
	for i, at := range ts {
		if want := time.Duration(i) * time.Millisecond; absDur(at-want) > time.Microsecond {
			t.Fatalf("arrival %d at %v, want %v", i, at, want)
		}
	}
}

func TestUniformRampFollowsTheRate(t *testing.T) {
	// 0 → 1000/s over 2 s: Λ(t) = 250 t², so 250 arrivals in the first second and 750 in the second.
	p := Profile{Name: "ramp", Phases: []Phase{{Name: "ramp", Duration: 2 * time.Second, From: 0, To: 1000}}}
	ts := arrivals(t, p, false)
	if n := len(ts); n < 999 || n > 1001 {
		t.Fatalf("%d arrivals, want 1000", n)
	}
	if n := countIn(ts, 0, time.Second); n < 249 || n > 251 {
		t.Errorf("%d arrivals in the first second, want 250", n)
	}
	// And a ramp down mirrors it.
	p.Phases[0].From, p.Phases[0].To = 1000, 0
	ts = arrivals(t, p, false)
	if n := countIn(ts, 0, time.Second); n < 749 || n > 751 {
		t.Errorf("ramp down: %d arrivals in the first second, want 750", n)
	}
}

func TestSpikeArrivalsPerPhase(t *testing.T) {
	shape := spikeShape{Base: 2 * time.Second, Ramp: time.Second, Hold: 2 * time.Second, Back: time.Second, Factor: 10}
	p := spikeProfile("spike", 100, shape)
	ts := arrivals(t, p, false)
	want := []float64{200, 550, 2000, 100} // base, ramp (mean of 100 and 1000 over 1 s), hold, back
	for i, w := range want {
		start := p.PhaseStart(i)
		n := countIn(ts, start, start+p.Phases[i].Duration)
		if math.Abs(float64(n)-w) > 1 {
			t.Errorf("phase %s: %d arrivals, want %v", p.Phases[i].Name, n, w)
		}
	}
	if p.Peak() != 1000 {
		t.Errorf("peak %v, want 1000", p.Peak())
	}
}

func TestPoissonArrivals(t *testing.T) {
	const rate, secs = 10_000, 10
	ts := arrivals(t, steadyProfile(rate, secs*time.Second), true)
	n := float64(len(ts))
	if sd := math.Sqrt(rate * secs); math.Abs(n-rate*secs) > 5*sd {
		t.Fatalf("%v arrivals, want %v ± %.0f", n, rate*secs, 5*sd)
	}
	// Exponential gaps: mean 1/rate, and a coefficient of variation of 1 (evenly spaced would be 0).
	var sum, sumSq float64
	for i := 1; i < len(ts); i++ {
		g := (ts[i] - ts[i-1]).Seconds()
		sum += g
		sumSq += g * g
	}
	k := float64(len(ts) - 1)
	mean := sum / k
	cv := math.Sqrt(sumSq/k-mean*mean) / mean
	if math.Abs(mean*rate-1) > 0.02 || math.Abs(cv-1) > 0.05 {
		t.Errorf("gaps: mean %.3g s (want %.3g), coefficient of variation %.3f (want 1)", mean, 1.0/rate, cv)
	}
}

func TestPoissonSpikeFollowsTheRate(t *testing.T) {
	p := spikeProfile("spike", 1000, spikeShape{Base: 2 * time.Second, Ramp: time.Second, Hold: 2 * time.Second, Back: time.Second, Factor: 10})
	ts := arrivals(t, p, true)
	for i, w := range []float64{2000, 5500, 20000, 1000} {
		start := p.PhaseStart(i)
		n := float64(countIn(ts, start, start+p.Phases[i].Duration))
		if math.Abs(n-w) > 5*math.Sqrt(w) {
			t.Errorf("phase %s: %v arrivals, want %v ± %.0f", p.Phases[i].Name, n, w, 5*math.Sqrt(w))
		}
	}
}

func TestIdlePhaseIsSkipped(t *testing.T) {
	p := Profile{Name: "gap", Phases: []Phase{
		{Name: "idle", Duration: time.Second},
		{Name: "busy", Duration: time.Second, From: 100, To: 100},
	}}
	ts := arrivals(t, p, false)
	if len(ts) != 100 || ts[0] != time.Second {
		t.Fatalf("%d arrivals starting at %v, want 100 starting at 1s", len(ts), ts[0])
	}
}

func TestInverseUndoesArea(t *testing.T) {
	for _, ph := range []Phase{
		{Duration: 5 * time.Second, From: 3000, To: 30000},
		{Duration: 5 * time.Second, From: 30000, To: 3000},
		{Duration: time.Second, From: 1e-9, To: 1e6},
		{Duration: time.Second, From: 500, To: 500},
	} {
		total := area(ph, ph.Duration.Seconds())
		for _, f := range []float64{0, 1e-6, 0.25, 0.5, 0.999999, 1} {
			a := f * total
			if got := area(ph, inverse(ph, a)); math.Abs(got-a) > 1e-6*total+1e-9 {
				t.Errorf("%+v: area(inverse(%g)) = %g", ph, a, got)
			}
		}
	}
}

func TestProfiles(t *testing.T) {
	p := spikeProfile("spike", 10, spikeShape{Base: 10 * time.Second, Ramp: 5 * time.Second, Hold: 20 * time.Second, Back: 10 * time.Second, Factor: 10})
	if p.Duration() != 45*time.Second || p.PhaseStart(2) != 15*time.Second {
		t.Errorf("duration %v, hold starts at %v; want 45s and 15s", p.Duration(), p.PhaseStart(2))
	}
	for _, c := range []struct {
		at   time.Duration
		want string
	}{{0, "base"}, {10 * time.Second, "ramp"}, {34 * time.Second, "hold"}, {44 * time.Second, "back"}, {time.Hour, "back"}} {
		if got := p.Phases[p.PhaseAt(c.at)].Name; got != c.want {
			t.Errorf("PhaseAt(%v) = %s, want %s", c.at, got, c.want)
		}
	}
	if err := p.validate(); err != nil {
		t.Error(err)
	}
	if err := steadyProfile(0, time.Second).validate(); err == nil {
		t.Error("an open-loop profile at rate 0 validated")
	}
	if err := capacityProfile(time.Second, 0).validate(); err != nil {
		t.Errorf("capacity with no measurement: %v", err)
	}
	if err := steadyProfile(10, 48*time.Hour).validate(); err == nil {
		t.Error("a 48 h profile validated: every run must be bounded")
	}
}

func absDur(d time.Duration) time.Duration { return max(d, -d) }
