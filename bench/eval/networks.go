package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/riskd/riskd/features/geo"
)

// The file names bench/geogen writes, which `riskd serve` is given with --geoip-city, -asn and -anonymous.
const (
	cityFile      = "city.mmdb"
	asnFile       = "asn.mmdb"
	anonymousFile = "anonymous.mmdb"
)

// network is one network of the databases, described by what riskd's own reader answers for it, so that the
// population is placed by the facts riskd will see.
type network struct {
	prefix                   netip.Prefix
	country                  string
	cityID                   uint32
	asn                      uint32
	lat, lon                 float64
	radiusKm                 float64
	tor, vpn, proxy, hosting bool
	anyProxy                 bool // flagged as a public or residential proxy, whatever else it is
}

// world indexes the networks by what the generator picks them for. Index slices hold positions in nets; picking
// uniformly among networks weights places by their number of networks, as geogen weights them by market size.
type world struct {
	nets []network

	// Residential: located to a city, an ASN, no anonymity or hosting flag. Where people log in from.
	byCity    map[uint32][]int
	byCountry map[string][]int
	byASN     map[uint32][]int
	resid     []int    // every residential network
	countries []string // distinct, sorted
	centroid  map[string][2]float64

	tor, vpn, proxy, hosting []int // hosting: flagged as hosting only (no anonymity flag)
}

// loadWorld opens the three databases of dir with features/geo, as `riskd serve` does, and indexes every network
// of the City and Anonymous-IP databases. maxminddb only enumerates the networks (features/geo looks addresses up
// but cannot list a tree); what each network is comes from a lookup through the returned DB.
func loadWorld(dir string) (*world, *geo.DB, error) {
	paths := [3]string{filepath.Join(dir, cityFile), filepath.Join(dir, asnFile), filepath.Join(dir, anonymousFile)}
	db, err := geo.Open(geo.Config{CityPath: paths[0], ASNPath: paths[1], AnonymousPath: paths[2]})
	if err != nil {
		return nil, nil, err
	}
	for _, st := range db.Status() {
		if !st.Loaded {
			db.Close()
			return nil, nil, fmt.Errorf("geoip: %s: not loaded", st.Path)
		}
	}
	prefixes := map[netip.Prefix]struct{}{}
	for _, path := range []string{paths[0], paths[2]} {
		if err := enumerate(path, prefixes); err != nil {
			db.Close()
			return nil, nil, err
		}
	}
	w := &world{byCity: map[uint32][]int{}, byCountry: map[string][]int{}, byASN: map[uint32][]int{},
		centroid: map[string][2]float64{}}
	sorted := make([]netip.Prefix, 0, len(prefixes))
	for p := range prefixes {
		sorted = append(sorted, p)
	}
	// Map order would make the same seed give another population.
	slices.SortFunc(sorted, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	// An ASN with any network flagged as hosting is a data centre's: nobody lives in its other networks either,
	// flagged or not.
	hostingASN := map[uint32]bool{}
	for _, p := range sorted {
		if info := db.Lookup(p.Addr()); info.Hosting && info.ASN != 0 {
			hostingASN[info.ASN] = true
		}
	}
	for _, p := range sorted {
		info := db.Lookup(p.Addr())
		w.add(network{prefix: p, country: info.Country, cityID: info.CityID, asn: info.ASN, lat: info.Lat, lon: info.Lon,
			radiusKm: float64(info.RadiusKm), tor: info.Tor, vpn: info.VPN && !info.Tor,
			proxy:    (info.PublicProxy || info.ResidentialProxy) && !info.VPN && !info.Tor,
			hosting:  info.Hosting && !info.VPN && !info.Tor && !info.PublicProxy && !info.ResidentialProxy,
			anyProxy: info.PublicProxy || info.ResidentialProxy,
		}, info.HasLocation && !hostingASN[info.ASN] && !info.Anonymous)
	}
	sums := map[string][3]float64{}
	for c, idx := range w.byCountry {
		w.countries = append(w.countries, c)
		for _, i := range idx {
			s := sums[c]
			sums[c] = [3]float64{s[0] + w.nets[i].lat, s[1] + w.nets[i].lon, s[2] + 1}
		}
	}
	slices.Sort(w.countries)
	for c, s := range sums {
		w.centroid[c] = [2]float64{s[0] / s[2], s[1] / s[2]}
	}
	if err := w.check(); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("geoip %s: %w (generate a synthetic set: go run ./bench/geogen -out %s -networks 300000)", dir, err, dir)
	}
	return w, db, nil
}

func enumerate(path string, into map[netip.Prefix]struct{}) error {
	r, err := maxminddb.Open(path)
	if err != nil {
		return fmt.Errorf("geoip: %w", err)
	}
	defer r.Close()
	for res := range r.Networks() {
		if err := res.Err(); err != nil {
			return fmt.Errorf("geoip: %s: %w", path, err)
		}
		into[res.Prefix()] = struct{}{}
	}
	return nil
}

func (w *world) add(n network, located bool) {
	i := len(w.nets)
	anonymous := n.tor || n.vpn || n.proxy
	switch {
	case n.tor:
		w.tor = append(w.tor, i)
	case n.vpn:
		w.vpn = append(w.vpn, i)
	case n.proxy:
		w.proxy = append(w.proxy, i)
	case n.hosting:
		w.hosting = append(w.hosting, i)
	}
	w.nets = append(w.nets, n)
	if anonymous || n.hosting || !located || n.cityID == 0 || n.asn == 0 || n.country == "" {
		return
	}
	w.byCity[n.cityID] = append(w.byCity[n.cityID], i)
	w.byCountry[n.country] = append(w.byCountry[n.country], i)
	w.byASN[n.asn] = append(w.byASN[n.asn], i)
	w.resid = append(w.resid, i)
}

// check refuses a database too small to place a population: the demo set alone, or MaxMind's test files.
func (w *world) check() error {
	var errs []error
	if len(w.countries) < 5 || len(w.resid) < 1000 {
		errs = append(errs, fmt.Errorf("%d residential networks in %d countries, want at least 1000 in 5", len(w.resid), len(w.countries)))
	}
	for _, pool := range []struct {
		name string
		idx  []int
	}{{"Tor", w.tor}, {"VPN", w.vpn}, {"proxy", w.proxy}, {"hosting", w.hosting}} {
		if len(pool.idx) == 0 {
			errs = append(errs, fmt.Errorf("no %s networks", pool.name))
		}
	}
	return errors.Join(errs...)
}

// addr returns an address inside n (not its first one unless the network is a single address).
func (n *network) addr(r *rand.Rand) netip.Addr {
	a := n.prefix.Addr()
	host := a.BitLen() - n.prefix.Bits()
	if host == 0 {
		return a
	}
	off := uint64(1 + r.IntN(1<<min(host, 16)-1))
	if a.Is4() {
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v += uint32(off)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	b := a.As16()
	for i := 15; i >= 8 && off > 0; i-- {
		s := uint64(b[i]) + off&0xff
		b[i] = byte(s)
		off = off>>8 + s>>8
	}
	return netip.AddrFrom16(b)
}

// pick returns a random index of idx.
func pick(r *rand.Rand, idx []int) int { return idx[r.IntN(len(idx))] }

// farCountry returns a country whose centre is at least km from (lat, lon), or "" when there is none.
func (w *world) farCountry(r *rand.Rand, lat, lon, km float64) string {
	var far []string
	for _, c := range w.countries {
		ce := w.centroid[c]
		if distanceKm(lat, lon, ce[0], ce[1]) >= km {
			far = append(far, c)
		}
	}
	if len(far) == 0 {
		return ""
	}
	return far[r.IntN(len(far))]
}

// otherCountry returns a country other than c, weighted by its residential networks.
func (w *world) otherCountry(r *rand.Rand, c string) string {
	for range 100 {
		if o := w.nets[pick(r, w.resid)].country; o != c {
			return o
		}
	}
	return w.countries[(slices.Index(w.countries, c)+1)%len(w.countries)]
}

const earthRadiusKm = 6371.0

// distanceKm is the great-circle distance (haversine), as riskd computes travel.
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}
