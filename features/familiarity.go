package features

import (
	"math"
	"sync/atomic"

	"github.com/riskd/riskd/store"
)

// Parameters of the familiarity score (see score).
const (
	alpha    = 1.0  // pseudo-logins by which the user's frequencies lean on the population's
	minRatio = 1e-3 // bounds of one feature's ratio: ±3 in login_risk
	maxRatio = 1e3
)

// traitKind is a feature of the familiarity score, as Population counts it.
type traitKind uint8

const (
	traitNetwork traitKind = iota // counted in the sketch
	traitASN
	traitCity
	traitAgent
	traitDevice
	traitCountry // counted exactly
	traitHour
	traitClass
	numTraits
)

// distinctValues is the number of distinct values assumed of a feature when smoothing population frequencies:
// about how many a large deployment sees.
func distinctValues(t traitKind) float64 {
	switch t {
	case traitNetwork, traitDevice:
		return 1 << 20
	case traitASN:
		return 1 << 16
	case traitCity:
		return 1 << 17
	case traitAgent:
		return 1 << 10
	case traitCountry:
		return 250
	case traitHour:
		return store.HourBins
	default:
		return store.DeviceClasses
	}
}

// Population sizes. The sketch is two rows of 2^16 32-bit counters (512 KiB): count-min over the features with
// many values; countries, hour bins and device classes are counted exactly.
const (
	sketchRows  = 2
	sketchWidth = 1 << 16
	// Cells of the exact counts: hour bins, device classes, then countries by their two letters A-Z.
	exactHours     = 0
	exactClasses   = exactHours + store.HourBins
	exactCountries = exactClasses + store.DeviceClasses
	exactCells     = exactCountries + 26*26
	// After this many logins every count is halved, so the population follows today's traffic and a counter
	// never overflows. Counts are estimates: an increment racing a halving may or may not be halved.
	populationHalfLife = 1 << 22
)

// Population counts how often each value of each feature appears among confirmed logins: p(x) of the
// familiarity score. It is fixed memory (~515 KiB), lock-free (atomic counters) and allocation-free, learned in
// process from the logins this instance confirms; with Redis each instance keeps its own, which converge since
// every instance sees a similar mix of traffic. It starts empty at every start-up: until it has learned, the
// smoothing makes every value rare, so a usual value still counts as familiar. Safe for concurrent use.
type Population struct {
	sketch [sketchRows][sketchWidth]atomic.Uint32
	exact  [exactCells]atomic.Uint32
	totals [numTraits]atomic.Uint64 // logins counted per feature
	since  atomic.Uint64            // logins since the last halving
	aging  atomic.Bool              // a halving is running
}

// NewPopulation returns an empty Population.
func NewPopulation() *Population { return new(Population) }

// Learn counts a confirmed login (a store.OpLogin or store.OpTrust op).
func (p *Population) Learn(op *store.ProfileOp) {
	if op.Network != 0 {
		p.add(traitNetwork, uint64(op.Network))
	}
	if op.Place.ASN != 0 {
		p.add(traitASN, uint64(op.Place.ASN))
	}
	if op.Place.CityID != 0 {
		p.add(traitCity, uint64(op.Place.CityID))
	}
	if op.Agent != 0 {
		p.add(traitAgent, uint64(op.Agent))
	}
	if op.HasDevice {
		p.add(traitDevice, op.Device)
	}
	if i := countryCell(op.Place.Country); i >= 0 {
		p.addExact(traitCountry, i)
	}
	p.addExact(traitHour, exactHours+store.HourBin(op.At))
	if op.Class >= 1 && op.Class <= store.DeviceClasses {
		p.addExact(traitClass, exactClasses+int(op.Class)-1)
	}
	if p.since.Add(1) >= populationHalfLife && p.aging.CompareAndSwap(false, true) {
		p.halve()
		p.since.Store(0)
		p.aging.Store(false)
	}
}

func (p *Population) add(t traitKind, key uint64) {
	h := cell(t, key)
	p.sketch[0][h&(sketchWidth-1)].Add(1)
	p.sketch[1][h>>32&(sketchWidth-1)].Add(1)
	p.totals[t].Add(1)
}

func (p *Population) addExact(t traitKind, i int) {
	p.exact[i].Add(1)
	p.totals[t].Add(1)
}

// count returns the sketch's estimate of key's logins: the smaller of its two cells, which other keys can only
// inflate.
func (p *Population) count(t traitKind, key uint64) uint32 {
	h := cell(t, key)
	return min(p.sketch[0][h&(sketchWidth-1)].Load(), p.sketch[1][h>>32&(sketchWidth-1)].Load())
}

// freq returns p(x) for a value counted c times, as a fraction (score divides once, at the end).
func (p *Population) freq(t traitKind, c uint32) fraction {
	return fraction{float64(c) + 1, float64(p.totals[t].Load()) + distinctValues(t)}
}

// fraction is a/b.
type fraction struct{ a, b float64 }

// cell mixes a feature and a key into the sketch's two row indexes (SplitMix64's finaliser): keys are already
// hashes or small numbers (ASNs, city ids), and the feature keeps equal keys of different features apart.
func cell(t traitKind, key uint64) uint64 {
	z := key + (uint64(t)+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// countryCell returns the exact cell of a country code, or -1 for an unknown or malformed one.
func countryCell(c [2]byte) int {
	if c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
		return -1
	}
	return exactCountries + int(c[0]-'A')*26 + int(c[1]-'A')
}

// halve halves every count, off no lock: counts that change meanwhile are retried, never lost.
func (p *Population) halve() {
	half := func(c *atomic.Uint32) {
		for {
			v := c.Load()
			if c.CompareAndSwap(v, v/2) {
				return
			}
		}
	}
	for r := range p.sketch {
		for i := range p.sketch[r] {
			half(&p.sketch[r][i])
		}
	}
	for i := range p.exact {
		half(&p.exact[i])
	}
	for i := range p.totals {
		for {
			v := p.totals[i].Load()
			if p.totals[i].CompareAndSwap(v, v/2) {
				break
			}
		}
	}
}

// score returns login_risk and familiarity for the login in obs against profile pr, in the manner of Freeman et
// al. ("Who Are You? A Statistical Approach to Measuring User Authenticity", NDSS 2016): for each feature k
// (network, ASN, city, country, client, device class, hour bin, device) the likelihood ratio p(x_k) / p(x_k |
// user) of an attacker, drawn from the population of logins, against the user, multiplied over the features as
// if they were independent:
//
//	login_risk  = log10 Π_k p(x_k) / p(x_k | user)
//	familiarity = 1 / (1 + Π_k ...)   = P(user | x) for even prior odds of user and attacker
//
// p(x | user) is the user's frequency smoothed towards the population, (c + α·p(x)) / (n + α), where c of the
// user's n logins showed x: with no history it is p(x) (the ratio is 1 and the feature says nothing), a value
// the user never showed gives (n + α)/α, and a usual value gives about p(x)·n/c, strongest when the value is
// rare in the population. Each ratio is clamped to [1/1000, 1000], so no single feature, however rare its
// value, decides alone. p(x) comes from Population, smoothed with one count over an assumed number of distinct
// values per feature, so that a value the population has not shown yet is rare, not impossible. Features
// unknown for the event (no ASN database, no user agent) or absent from the user's history are left out.
//
// The features overlap (a new network often means a new ASN and city), so the score counts such a change more
// than once, as Freeman et al.'s does; rules weigh it with history_logins and the plain new_* flags.
func (p *Population) score(pr *store.Profile, obs *Observation) (risk, familiarity float64) {
	r := odds{1, 1}
	h := &pr.History
	t := &obs.Traits
	habit := func(tk traitKind, k store.HabitKind, key uint32) {
		if key == 0 {
			return
		}
		c, n := h.Seen(k, key)
		r.mul(p.freq(tk, p.count(tk, uint64(key))), c, n)
	}
	habit(traitNetwork, store.HabitNetwork, t.Network)
	habit(traitASN, store.HabitASN, obs.Geo.ASN)
	habit(traitCity, store.HabitCity, obs.Geo.CityID)
	habit(traitAgent, store.HabitAgent, t.Agent)

	if cc := countryCode(obs.Geo.Country); countryCell(cc) >= 0 {
		c, n := 0, 0
		for _, co := range pr.Countries[:pr.NumCountries] {
			n += int(co.Logins)
			if co.Code == cc {
				c = int(co.Logins)
			}
		}
		r.mul(p.freq(traitCountry, p.exact[countryCell(cc)].Load()), c, n)
	}
	bin := store.HourBin(obs.At)
	n := h.Logins()
	r.mul(p.freq(traitHour, p.exact[exactHours+bin].Load()), int(h.Hours[bin].Logins), n)
	if t.Class != 0 {
		c, n := 0, 0
		for i, b := range h.Classes {
			n += int(b.Logins)
			if i == int(t.Class)-1 {
				c = int(b.Logins)
			}
		}
		r.mul(p.freq(traitClass, p.exact[exactClasses+int(t.Class)-1].Load()), c, n)
	}
	if obs.HasDevice {
		// Devices carry no login counts: a known device is credited an even share of the user's logins.
		c, n := 0, int(pr.Logins)
		if pr.Device(obs.DeviceKey) >= 0 {
			c = max(1, n/int(pr.NumDevices))
		}
		r.mul(p.freq(traitDevice, p.count(traitDevice, obs.DeviceKey)), c, n)
	}
	ratio := r.num / r.den
	return math.Log10(ratio), 1 / (1 + ratio)
}

// odds is a product of ratios kept as a numerator and a denominator, so that scoring eight features costs one
// division instead of three per feature. Each factor lies between 10^-3 and 2^64, so eight of them stay far
// within float64's range.
type odds struct{ num, den float64 }

// mul multiplies o by one feature's ratio p(x) / p(x | user), clamped to [minRatio, maxRatio], for a value the
// population shows with frequency pop = a/b and the user showed c times in n logins:
//
//	p(x) / ((c + α·p(x)) / (n + α))  =  a·(n + α) / (c·b + α·a)
func (o *odds) mul(pop fraction, c, n int) {
	if n == 0 {
		return
	}
	num, den := pop.a*(float64(n)+alpha), float64(c)*pop.b+alpha*pop.a
	switch {
	case num > maxRatio*den:
		num, den = maxRatio, 1
	case num < minRatio*den:
		num, den = minRatio, 1
	}
	o.num *= num
	o.den *= den
}
