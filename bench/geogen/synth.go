package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// A production-sized synthetic set. What it imitates, because it is what
// lookup cost depends on:
//   - tree shape: IPv4 blocks of /16 to /32, mostly /24 and longer, laid out
//     over the whole public IPv4 space with gaps, plus ~15% IPv6 /32 to /64,
//     so lookups walk 100+ levels and hit unknown space too;
//   - locality: neighbouring blocks often share country and ASN, as real
//     allocations do (this is what lets a real tree merge and stay compact);
//   - data section: roughly one distinct City record per 20 networks, each
//     with the full GeoIP2-City shape (8-language names, registered country,
//     postal code...), so decoding skips what a real record makes it skip;
//   - a few % anonymous networks, mostly on hosting ASNs.

// entry is one network and its record in one database.
type entry struct {
	prefix netip.Prefix
	value  mmdbtype.Map
}

// dataset is the content of the three databases.
type dataset struct {
	city, asn, anonymous []entry
	// v4Spills counts networks that went to IPv6 because IPv4 was full
	// (only with several million networks).
	v4Spills int
}

func (d *dataset) append(o dataset) {
	d.city = append(d.city, o.city...)
	d.asn = append(d.asn, o.asn...)
	d.anonymous = append(d.anonymous, o.anonymous...)
}

// v4Lengths is the prefix length mix of IPv4 networks, in per mille.
var v4Lengths = []struct {
	bits    int
	permill int
}{
	{16, 3}, {17, 5}, {18, 10}, {19, 15}, {20, 30}, {21, 40}, {22, 80}, {23, 100},
	{24, 420}, {25, 50}, {26, 50}, {27, 47}, {28, 50}, {29, 50}, {30, 30}, {31, 10}, {32, 10},
}

var v6Lengths = []struct {
	bits    int
	permill int
}{
	{32, 50}, {36, 50}, {40, 100}, {44, 100}, {48, 400}, {56, 150}, {64, 150},
}

// reservedV4 are never given synthetic data: real databases leave them empty
// and the demo set uses some of them. Sorted by address.
var reservedV4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("224.0.0.0/3"), // multicast and class E
}

const (
	v6Share         = 0.15  // of networks
	runBreak        = 0.3   // chance a network starts a new country/ASN run
	cityChange      = 0.3   // chance of another city of the same country within a run
	countryOnly     = 0.08  // records with a country but no city
	hostingShare    = 0.15  // of runs
	hostingAnon     = 0.2   // of hosting networks: listed as anonymous
	residentialAnon = 0.005 // of other networks: residential/public proxy or Tor
)

// synthesizer holds the generation state; one per run, never shared.
type synthesizer struct {
	rng *rand.Rand

	cityWeights    []int                         // cumulative weights over cities
	citiesOf       map[string][]int              // country -> city indexes
	isps           map[string][]autonomousSystem // country -> access ASNs
	hosting        []autonomousSystem
	variants       int                     // City records per city
	cityRecords    map[[2]int]mmdbtype.Map // (city, variant) -> record
	countryRecords map[[2]int]mmdbtype.Map // (country index, variant) -> record
	countryCodes   []string
	asnRecords     map[uint32]mmdbtype.Map
	anonRecords    map[anonymity]mmdbtype.Map

	// Networks come in runs that share country and ASN and sit next to each
	// other, in IPv4 or in one IPv6 /32; gaps separate runs.
	runV6    bool
	v4Next   uint64              // next free IPv4 address, as an integer
	v4Gap    uint64              // mean gap between IPv4 runs
	v6Next   uint64              // next free IPv6 /64, as the top 64 bits
	v6Used   map[uint32]struct{} // /32s already given to a run
	v4Spills int                 // networks that found no IPv4 room and went to IPv6
}

// synthesize returns n pseudo-random networks, the same for the same seed.
func synthesize(n int, seed uint64) dataset {
	s := newSynthesizer(n, seed)
	d := dataset{city: make([]entry, 0, n), asn: make([]entry, 0, n)}
	var cityIdx int
	var as autonomousSystem
	for i := range n {
		if i == 0 || s.rng.Float64() < runBreak {
			cityIdx = s.pickCity()
			as = s.pickAS(cities[cityIdx].country)
			s.startRun()
		} else if s.rng.Float64() < cityChange {
			same := s.citiesOf[cities[cityIdx].country]
			cityIdx = same[s.rng.IntN(len(same))]
		}
		prefix := s.nextPrefix()

		var rec mmdbtype.Map
		if s.rng.Float64() < countryOnly {
			rec = s.countryRecord(cities[cityIdx].country)
		} else {
			rec = s.cityRecord(cityIdx)
		}
		d.city = append(d.city, entry{prefix, rec})
		d.asn = append(d.asn, entry{prefix, s.asnRecord(as)})
		if a := s.pickAnonymity(as); a.listed() {
			d.anonymous = append(d.anonymous, entry{prefix, s.anonRecord(a)})
		}
	}
	d.v4Spills = s.v4Spills
	return d
}

func newSynthesizer(n int, seed uint64) *synthesizer {
	s := &synthesizer{
		rng:            rand.New(rand.NewPCG(seed, 0x5eed_9e0_9e0)),
		citiesOf:       map[string][]int{},
		isps:           map[string][]autonomousSystem{},
		variants:       max(4, n/(20*len(cities))),
		cityRecords:    map[[2]int]mmdbtype.Map{},
		countryRecords: map[[2]int]mmdbtype.Map{},
		asnRecords:     map[uint32]mmdbtype.Map{},
		anonRecords:    map[anonymity]mmdbtype.Map{},
		v4Next:         1 << 24, // 1.0.0.0
		v6Used:         map[uint32]struct{}{},
	}
	total := 0
	for i, c := range cities {
		total += c.weight
		s.cityWeights = append(s.cityWeights, total)
		s.citiesOf[c.country] = append(s.citiesOf[c.country], i)
	}
	for code := range s.citiesOf {
		s.countryCodes = append(s.countryCodes, code)
	}
	slices.Sort(s.countryCodes) // map order would make the output vary run to run
	for _, as := range autonomousSystems {
		if as.hosting {
			s.hosting = append(s.hosting, as)
		} else {
			s.isps[as.country] = append(s.isps[as.country], as)
		}
	}
	// Real ASN databases hold ~80k ASNs; add small regional ISPs so the ASN
	// data section is not a handful of hot records.
	for i := range max(len(s.countryCodes), n/400) {
		code := s.countryCodes[i%len(s.countryCodes)]
		s.isps[code] = append(s.isps[code], autonomousSystem{
			number:  uint32(200_000 + i),
			org:     fmt.Sprintf("%s Regional Broadband %d", countries[code].name, i/len(s.countryCodes)+1),
			country: code,
		})
	}

	// Mean gap between runs that spreads the IPv4 networks over the public
	// space. Block alignment wastes about half a block per network on top of
	// the block itself.
	var meanBlock float64
	for _, l := range v4Lengths {
		meanBlock += float64(l.permill) / 1000 * float64(uint64(1)<<(32-l.bits))
	}
	const publicV4 = 3.7e9
	v4Networks := float64(n) * (1 - v6Share)
	if step := publicV4 / max(v4Networks, 1); step > 1.5*meanBlock {
		s.v4Gap = uint64((step - 1.5*meanBlock) / runBreak)
	}
	return s
}

// startRun picks the address family of a new run and moves past a gap.
func (s *synthesizer) startRun() {
	s.runV6 = s.rng.Float64() < v6Share
	if s.runV6 {
		s.jumpV6()
	} else if s.v4Gap > 0 {
		s.v4Next += s.rng.Uint64N(2*s.v4Gap + 1)
	}
}

// jumpV6 moves to an unused /32 in 2400::/16..2a0f::/16, clear of the ranges
// mmdbwriter aliases to IPv4 (2001::/32, 2002::/16) and of the demo ranges.
func (s *synthesizer) jumpV6() {
	for {
		slash32 := uint32(0x2400_0000 + s.rng.IntN(0x2a10_0000-0x2400_0000))
		if _, used := s.v6Used[slash32]; !used {
			s.v6Used[slash32] = struct{}{}
			s.v6Next = uint64(slash32) << 32
			return
		}
	}
}

func (s *synthesizer) pickCity() int {
	w := s.rng.IntN(s.cityWeights[len(s.cityWeights)-1])
	i, _ := slices.BinarySearch(s.cityWeights, w+1)
	return i
}

func (s *synthesizer) pickAS(country string) autonomousSystem {
	isps := s.isps[country]
	if len(isps) == 0 || s.rng.Float64() < hostingShare {
		return s.hosting[s.rng.IntN(len(s.hosting))]
	}
	// The named national ISPs (listed first) carry most users.
	named := 0
	for named < len(isps) && isps[named].number < 200_000 {
		named++
	}
	if named > 0 && s.rng.Float64() < 0.7 {
		return isps[s.rng.IntN(named)]
	}
	return isps[s.rng.IntN(len(isps))]
}

func (s *synthesizer) pickAnonymity(as autonomousSystem) anonymity {
	if as.hosting {
		if s.rng.Float64() >= hostingAnon {
			return anonymity{}
		}
		return anonymity{
			hosting:     true,
			vpn:         s.rng.Float64() < 0.5,
			tor:         s.rng.Float64() < 0.05,
			publicProxy: s.rng.Float64() < 0.1,
		}
	}
	if s.rng.Float64() >= residentialAnon {
		return anonymity{}
	}
	switch r := s.rng.Float64(); {
	case r < 0.6:
		return anonymity{residentialProxy: true}
	case r < 0.85:
		return anonymity{publicProxy: true}
	default:
		return anonymity{tor: true}
	}
}

// radii are the accuracy radii MaxMind uses most, in km.
var radii = []uint16{1, 5, 10, 20, 20, 50, 50, 100, 100, 200, 500, 1000}

func (s *synthesizer) cityRecord(cityIdx int) mmdbtype.Map {
	key := [2]int{cityIdx, s.rng.IntN(s.variants)}
	if rec, ok := s.cityRecords[key]; ok {
		return rec
	}
	// Derive the variant from its key, not from the main stream, so a record
	// is the same whichever network first asks for it.
	r := rand.New(rand.NewPCG(uint64(key[0]), uint64(key[1])))
	c := &cities[cityIdx]
	p := place{
		city:     c,
		country:  c.country,
		lat:      c.lat + (r.Float64()-0.5)*0.4,
		lon:      c.lon + (r.Float64()-0.5)*0.4,
		tz:       c.tz,
		radiusKm: radii[r.IntN(len(radii))],
	}
	if c.postal != "" {
		p.postal = fmt.Sprintf("%s%02d", c.postal, key[1]%100)
	}
	if r.Float64() < 0.04 { // registered elsewhere, as with multinational ISPs
		p.registered = s.countryCodes[r.IntN(len(s.countryCodes))]
	}
	rec := cityRecord(p)
	s.cityRecords[key] = rec
	return rec
}

func (s *synthesizer) countryRecord(code string) mmdbtype.Map {
	ci, _ := slices.BinarySearch(s.countryCodes, code)
	key := [2]int{ci, s.rng.IntN(8)}
	if rec, ok := s.countryRecords[key]; ok {
		return rec
	}
	capital := &cities[s.citiesOf[code][0]]
	rec := cityRecord(place{
		country:  code,
		lat:      float64(int(capital.lat)),
		lon:      float64(int(capital.lon)),
		tz:       capital.tz,
		radiusKm: []uint16{100, 200, 500, 500, 1000, 1000, 1000, 1000}[key[1]],
	})
	s.countryRecords[key] = rec
	return rec
}

func (s *synthesizer) asnRecord(as autonomousSystem) mmdbtype.Map {
	rec, ok := s.asnRecords[as.number]
	if !ok {
		rec = asnRecord(as)
		s.asnRecords[as.number] = rec
	}
	return rec
}

func (s *synthesizer) anonRecord(a anonymity) mmdbtype.Map {
	rec, ok := s.anonRecords[a]
	if !ok {
		rec = anonymousRecord(a)
		s.anonRecords[a] = rec
	}
	return rec
}

func (s *synthesizer) nextPrefix() netip.Prefix {
	if !s.runV6 {
		if p, ok := s.nextV4(); ok {
			return p
		}
		s.v4Spills++
		s.runV6 = true
		s.jumpV6()
	}
	return s.nextV6()
}

// nextV4 takes the next free, aligned, unreserved IPv4 block.
func (s *synthesizer) nextV4() (netip.Prefix, bool) {
	bits := pickLength(s.rng, v4Lengths)
	size := uint64(1) << (32 - bits)
	for {
		start := (s.v4Next + size - 1) &^ (size - 1)
		if start+size > 1<<32 {
			return netip.Prefix{}, false
		}
		clash := false
		for _, r := range reservedV4 {
			rs := uint64(v4Uint(r.Addr()))
			re := rs + uint64(1)<<(32-r.Bits())
			if start < re && rs < start+size {
				s.v4Next, clash = re, true
				break
			}
		}
		if !clash {
			s.v4Next = start + size
			return netip.PrefixFrom(v4Addr(uint32(start)), bits), true
		}
	}
}

// nextV6 takes the next aligned block of the run's /32 (a run holds ~3
// networks, so even /32 blocks rarely leave it).
func (s *synthesizer) nextV6() netip.Prefix {
	bits := pickLength(s.rng, v6Lengths)
	size := uint64(1) << (64 - bits)
	start := (s.v6Next + size - 1) &^ (size - 1)
	s.v6Next = start + size
	var b [16]byte
	for i := range 8 {
		b[i] = byte(start >> (56 - 8*i))
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), bits)
}

func pickLength(rng *rand.Rand, mix []struct{ bits, permill int }) int {
	r := rng.IntN(1000)
	for _, l := range mix {
		if r < l.permill {
			return l.bits
		}
		r -= l.permill
	}
	return mix[len(mix)-1].bits
}

func v4Uint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func v4Addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
