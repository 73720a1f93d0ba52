package rules

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/riskd/riskd/features/geo"
)

// Test geography. A set's tests use addresses for what GeoIP data says about them: a country, a city, a
// network, a Tor exit. Which addresses mean what differs between MaxMind's test files, production files and
// no files at all, so a set's `addresses:` declares the geography of the addresses its tests use, and the
// tests see exactly that whatever databases they run with (ruletest hands it to geo.DB.WithFixed). Addresses
// the tests use without declaring them are looked up in the databases, as before.

// AddressSpec is the geography of one address as a set's tests see it. The keys are the names rules read
// (country, city, asn, is_tor, …); what is not given is empty, as for an address no database knows.
type AddressSpec struct {
	Country          string   `yaml:"country"` // ISO 3166-1 alpha-2, e.g. US
	Region           string   `yaml:"region"`  // first subdivision's ISO code, e.g. WA
	City             string   `yaml:"city"`
	CityID           uint32   `yaml:"city_id"` // GeoNames id; default a stable number derived from country, region and city
	Lat              *float64 `yaml:"lat"`
	Lon              *float64 `yaml:"lon"`
	AccuracyKm       uint16   `yaml:"accuracy_km"`
	ASN              uint32   `yaml:"asn"`
	ASOrg            string   `yaml:"as_org"`
	Anonymous        bool     `yaml:"is_anonymous"`
	VPN              bool     `yaml:"is_vpn"`
	Tor              bool     `yaml:"is_tor"`
	Hosting          bool     `yaml:"is_hosting"`
	PublicProxy      bool     `yaml:"is_public_proxy"`
	ResidentialProxy bool     `yaml:"is_residential_proxy"`

	Line     int `yaml:"-"`
	problems []lineMsg
	keys     keyLines
}

// UnmarshalYAML decodes an address's geography strictly.
func (a *AddressSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain AddressSpec
	if n.Kind != yaml.MappingNode {
		return shapeError(n.Line, "address must be a mapping (country, city, lat, lon, asn, is_tor, …)")
	}
	a.problems = decodeStrict(n, "address", (*plain)(a))
	a.Line, a.keys = n.Line, collectKeyLines(n)
	return nil
}

// compileAddresses checks the addresses of every file and returns the geography by address. An address given
// twice with different geography is an error unless the later file extends the earlier (then it wins).
func (c *compiler) compileAddresses(files []namedFile) map[netip.Addr]*geo.Info {
	type declared struct {
		info  *geo.Info
		where string
		layer int
	}
	seen := map[netip.Addr]declared{}
	for _, nf := range files {
		for _, key := range sortedKeys(nf.f.Addresses) {
			sp := nf.f.Addresses[key]
			line := 0
			if sp != nil {
				line = sp.Line
			}
			ip, err := netip.ParseAddr(key)
			if err != nil || ip.Zone() != "" {
				c.errorf(nf.name, line, "addresses: %q: not an IPv4 or IPv6 address", key)
				continue
			}
			ip = ip.Unmap()
			if sp == nil {
				sp = &AddressSpec{}
			}
			info, ok := c.addressInfo(nf.name, key, sp)
			if !ok {
				continue
			}
			where := fmt.Sprintf("%s:%d", nf.name, line)
			if prev, dup := seen[ip]; dup && prev.layer == nf.layer && *prev.info != *info {
				c.errorf(nf.name, line, "addresses: %s: also given, differently, at %s", key, prev.where)
				continue
			}
			seen[ip] = declared{info, where, nf.layer}
		}
	}
	if len(seen) == 0 {
		return nil
	}
	out := make(map[netip.Addr]*geo.Info, len(seen))
	for ip, d := range seen {
		out[ip] = d.info
	}
	return out
}

// addressInfo checks one address's geography and converts it to what a GeoIP lookup would return.
func (c *compiler) addressInfo(file, key string, sp *AddressSpec) (*geo.Info, bool) {
	ok := true
	bad := func(k, format string, args ...any) {
		c.errorf(file, sp.keys.line(k, sp.Line), "addresses: %s: %s: %s", key, k, fmt.Sprintf(format, args...))
		ok = false
	}
	if sp.Country != "" && !(len(sp.Country) == 2 && upper(sp.Country[0]) && upper(sp.Country[1])) {
		bad("country", "%q: want an ISO 3166-1 alpha-2 code such as US", sp.Country)
	}
	if (sp.Lat == nil) != (sp.Lon == nil) {
		k := "lat"
		if sp.Lon != nil {
			k = "lon"
		}
		bad(k, "give lat and lon together")
	}
	if sp.Lat != nil && (*sp.Lat < -90 || *sp.Lat > 90) {
		bad("lat", "%g: want -90..90", *sp.Lat)
	}
	if sp.Lon != nil && (*sp.Lon < -180 || *sp.Lon > 180) {
		bad("lon", "%g: want -180..180", *sp.Lon)
	}
	for _, f := range []struct{ k, v string }{{"region", sp.Region}, {"city", sp.City}, {"as_org", sp.ASOrg}} {
		if len(f.v) > maxTextLen {
			bad(f.k, "longer than %d bytes", maxTextLen)
		}
	}
	if !ok {
		return nil, false
	}
	info := &geo.Info{Country: sp.Country, Region: sp.Region, City: sp.City, CityID: sp.CityID, RadiusKm: sp.AccuracyKm,
		ASN: sp.ASN, ASOrg: sp.ASOrg, Anonymous: sp.Anonymous, VPN: sp.VPN, Tor: sp.Tor, Hosting: sp.Hosting,
		PublicProxy: sp.PublicProxy, ResidentialProxy: sp.ResidentialProxy}
	if sp.Lat != nil && sp.Lon != nil {
		info.Lat, info.Lon, info.HasLocation = *sp.Lat, *sp.Lon, true
	}
	if info.CityID == 0 && info.City != "" {
		// new_city and familiarity compare cities by id: the same name in the same place is the same city.
		h := fnv.New32a()
		h.Write([]byte(info.Country + "\x00" + info.Region + "\x00" + info.City))
		info.CityID = h.Sum32() | 1<<31
	}
	return info, true
}

func upper(b byte) bool { return b >= 'A' && b <= 'Z' }

// UndeclaredTestAddresses lists the addresses s's tests use whose geography s does not declare, sorted: what
// the tests see of them depends on the GeoIP databases they run with.
func (s *Set) UndeclaredTestAddresses() []string {
	var out []string
	add := func(ip netip.Addr) {
		if !ip.IsValid() {
			return
		}
		if _, ok := s.TestAddresses[ip]; ok {
			return
		}
		if t := ip.String(); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for i := range s.Tests {
		t := &s.Tests[i]
		for j := range t.Given {
			if t.Given[j].IsOutcome {
				add(t.Given[j].Outcome.IP)
			} else {
				add(t.Given[j].Event.IP)
			}
		}
		add(t.When.Event.IP)
	}
	slices.Sort(out)
	return out
}
