package main

import (
	"math"
	"math/rand/v2"
	"time"
)

// schedule yields the send times of an open-loop profile, as offsets from its start, independently of how
// fast the server answers: that independence is what keeps coordinated omission out of the latencies.
//
// Arrivals are placed by inverting the cumulative rate Λ(t) = ∫ rate: the n-th arrival is where Λ reaches
// the n-th partial sum of the gaps, 1 each for evenly spaced arrivals and Exp(1) each for Poisson arrivals
// (the time-rescaling theorem: this is exactly an inhomogeneous Poisson process). Within a phase the rate is
// linear, so Λ is quadratic and each inversion is one closed-form root; ramps need no time stepping.
type schedule struct {
	p       Profile
	poisson bool
	rng     *rand.Rand

	phase  int     // current phase
	start  float64 // its start, seconds
	filled float64 // area of the current phase up to the last arrival: a sum of gaps, exact for evenly spaced ones
	gap    float64 // area (expected arrivals) from the last arrival to the next
}

func newSchedule(p Profile, poisson bool, seed uint64) *schedule {
	s := &schedule{p: p, poisson: poisson, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	// Evenly spaced arrivals start at 0; a Poisson process has no arrival at 0 in particular.
	if poisson {
		s.gap = s.rng.ExpFloat64()
	}
	return s
}

// area is Λ over [0, τ] inside phase ph (seconds, arrivals).
func area(ph Phase, tau float64) float64 {
	d := ph.Duration.Seconds()
	if d == 0 {
		return 0
	}
	return ph.From*tau + (ph.To-ph.From)/(2*d)*tau*tau
}

// inverse is the τ in [0, duration] at which area(ph, τ) = a, for 0 <= a <= area(ph, duration).
func inverse(ph Phase, a float64) float64 {
	d := ph.Duration.Seconds()
	k := (ph.To - ph.From) / (2 * d) // area = From·τ + k·τ²
	// The root in the form 2a / (b + √(b² + 4ka)) stays exact when k is 0 or tiny, where the textbook formula
	// cancels catastrophically.
	disc := max(ph.From*ph.From+4*k*a, 0)
	den := ph.From + math.Sqrt(disc)
	if den <= 0 {
		return 0
	}
	return min(2*a/den, d)
}

// Next returns the offset of the next arrival, or false when the profile is over.
func (s *schedule) Next() (time.Duration, bool) {
	for s.phase < len(s.p.Phases) {
		ph := s.p.Phases[s.phase]
		d := ph.Duration.Seconds()
		target := s.filled + s.gap
		total := area(ph, d)
		if target < total {
			if tau := inverse(ph, target); tau < d { // rounding may put the root on the boundary
				s.filled = target
				s.gap = s.nextGap()
				return time.Duration((s.start + tau) * float64(time.Second)), true
			}
		}
		// An arrival at or past the boundary belongs to the next phase; the rest of the gap carries over.
		s.gap = max(target-total, 0)
		s.start += d
		s.filled = 0
		s.phase++
	}
	return 0, false
}

func (s *schedule) nextGap() float64 {
	if s.poisson {
		return s.rng.ExpFloat64()
	}
	return 1
}
