package main

import (
	"fmt"
	"time"
)

// Phase is a stretch of a load profile whose arrival rate goes linearly from From to To requests per second
// (equal for a flat phase). Closed-loop profiles ignore the rates.
type Phase struct {
	Name     string
	Duration time.Duration
	From, To float64
}

// Profile is a named sequence of phases. A closed-loop profile (capacity) has Workers send back to back
// instead of on a schedule: it finds the ceiling, while open-loop profiles measure latency at a given rate.
type Profile struct {
	Name   string
	Closed bool
	Phases []Phase
}

// Duration is the length of the whole profile.
func (p Profile) Duration() time.Duration {
	var d time.Duration
	for _, ph := range p.Phases {
		d += ph.Duration
	}
	return d
}

// PhaseAt is the index of the phase that t (an offset from the start) falls in; offsets past the end belong to
// the last phase, so late completions are still counted.
func (p Profile) PhaseAt(t time.Duration) int {
	var end time.Duration
	for i, ph := range p.Phases {
		end += ph.Duration
		if t < end {
			return i
		}
	}
	return len(p.Phases) - 1
}

// PhaseStart is the offset at which phase i starts.
func (p Profile) PhaseStart(i int) time.Duration {
	var d time.Duration
	for _, ph := range p.Phases[:i] {
		d += ph.Duration
	}
	return d
}

// Peak is the highest arrival rate of the profile.
func (p Profile) Peak() float64 {
	var m float64
	for _, ph := range p.Phases {
		m = max(m, ph.From, ph.To)
	}
	return m
}

// capacityProfile runs closed loop: a short warm-up (connections, caches, the server's pools and heap) that
// the capacity figure leaves out, then the measurement.
func capacityProfile(warmup, measure time.Duration) Profile {
	return Profile{Name: "capacity", Closed: true, Phases: []Phase{
		{Name: "warmup", Duration: warmup},
		{Name: "capacity", Duration: measure},
	}}
}

func steadyProfile(rate float64, d time.Duration) Profile {
	return Profile{Name: "steady", Phases: []Phase{{Name: "steady", Duration: d, From: rate, To: rate}}}
}

// soakProfile is steady traffic meant to run long with key spraying switched on (see Mix): what it measures
// is whether memory and latency stay flat.
func soakProfile(rate float64, d time.Duration) Profile {
	return Profile{Name: "soak", Phases: []Phase{{Name: "soak", Duration: d, From: rate, To: rate}}}
}

// spikeShape is the campaign spike: a baseline, a ramp to factor × baseline, a hold there, and the drop back.
type spikeShape struct {
	Base, Ramp, Hold, Back time.Duration
	Factor                 float64
}

func spikeProfile(name string, baseline float64, s spikeShape) Profile {
	peak := baseline * s.Factor
	return Profile{Name: name, Phases: []Phase{
		{Name: "base", Duration: s.Base, From: baseline, To: baseline},
		{Name: "ramp", Duration: s.Ramp, From: baseline, To: peak},
		{Name: "hold", Duration: s.Hold, From: peak, To: peak},
		{Name: "back", Duration: s.Back, From: baseline, To: baseline},
	}}
}

// validate refuses profiles that would schedule nothing or run forever.
func (p Profile) validate() error {
	if len(p.Phases) == 0 {
		return fmt.Errorf("profile %s: no phases", p.Name)
	}
	for _, ph := range p.Phases {
		if ph.Duration < 0 || ph.From < 0 || ph.To < 0 {
			return fmt.Errorf("profile %s, phase %s: negative duration or rate", p.Name, ph.Name)
		}
	}
	if d := p.Duration(); d <= 0 || d > 24*time.Hour {
		return fmt.Errorf("profile %s: duration %v must be above 0 and at most 24h", p.Name, d)
	}
	if !p.Closed && p.Peak() <= 0 {
		return fmt.Errorf("profile %s: an open-loop profile needs a rate above 0", p.Name)
	}
	return nil
}
