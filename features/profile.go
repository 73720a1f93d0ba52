package features

import (
	"net/netip"

	"github.com/cespare/xxhash/v2"

	"github.com/riskd/riskd/features/useragent"
	"github.com/riskd/riskd/store"
)

// Traits are the habits one login shows beyond its device and place, as the profile's History keeps them: the
// network, the client, the device class. Zero means unknown; an unknown trait is neither learned nor scored.
type Traits struct {
	Network uint32 // keyed hash of the /24 (IPv4) or /64 (IPv6): Hasher.Network
	Agent   uint32 // hash of the browser family and the OS
	Class   uint8  // device class: classDesktop..classBot
}

// Device classes as the History counts them (store.DeviceClasses of them).
const (
	classDesktop uint8 = iota + 1
	classMobile
	classTablet
	classBot
)

// Network returns the 32-bit key the behaviour history stores an address's network under: its /24 for IPv4
// (IPv4-mapped addresses included), its /64 for IPv6, which is what one household, office or mobile customer
// keeps while its address changes. It is a fold of the subnet's state key (Subnet), which a decision has
// computed already. The address itself is never stored. 0 only for an invalid address.
func (h Hasher) Network(a netip.Addr) uint32 { return networkOf(h.Subnet(a)) }

// networkOf folds a subnet key to the history's 32-bit network key (0: no address).
func networkOf(subnet uint64) uint32 {
	if subnet == 0 {
		return 0
	}
	return nonZero32(subnet)
}

// nonZero32 folds a 64-bit hash to 32 bits, never 0 (which means unknown).
func nonZero32(k uint64) uint32 {
	if v := uint32(k) ^ uint32(k>>32); v != 0 {
		return v
	}
	return 1
}

// traits computes t for a login from address ip by a client of the given browser family, OS and device class
// (as useragent.Info names them). The client's key is a plain hash: a browser family and an OS identify nobody.
func (x *Extractor) traits(subnet uint64, browser, os, class string, t *Traits) {
	t.Network = networkOf(subnet)
	t.Agent = 0
	if browser != "" {
		t.Agent = nonZero32(xxhash.Sum64String(browser)*0x9e3779b97f4a7c15 ^ xxhash.Sum64String(os))
	}
	switch class {
	case useragent.Desktop:
		t.Class = classDesktop
	case useragent.Mobile:
		t.Class = classMobile
	case useragent.Tablet:
		t.Class = classTablet
	case useragent.Bot:
		t.Class = classBot
	default:
		t.Class = 0
	}
}

// outcomeTraits computes the traits of a login an outcome confirms, from the outcome's address and user agent.
func (x *Extractor) outcomeTraits(o *Outcome, obs *Observation) {
	u := x.ua.Lookup(o.UserAgent)
	x.traits(obs.SubnetKey, u.Browser, u.OS, u.DeviceClass, &obs.Traits)
}

// fillProfile fills the vector's profile section from the profile read for the event: what the user usually
// does, and how this login compares (familiarity.go). Extract has computed obs.Traits.
func (x *Extractor) fillProfile(obs *Observation, v *Vector) {
	p := &obs.State.Profile
	v.UserLogins = int(p.Logins)
	v.NewUser = p.Logins == 0
	v.KnownDevices = int(p.NumDevices)
	v.CountriesSeen = int(p.NumCountries)
	v.SinceLastLoginH = -1
	v.Familiarity = 0.5
	if p.Created != 0 {
		v.AccountAgeDays = float64(obs.At-p.Created) / 86400
	}
	if v.NewUser {
		return
	}
	if obs.HasDevice {
		if i := p.Device(obs.DeviceKey); i >= 0 {
			if d := &p.Devices[i]; d.TrustedAt != 0 {
				// Trust another tenant's key reported is that tenant's: this one's rules choose whether to count it.
				here := d.TrustedBy == 0 || d.TrustedBy == x.hash.Tenant(v.Tenant)
				v.TrustedDevice, v.TrustedByOther = here, !here
			}
		} else {
			v.NewDevice = true
		}
	}
	g := &obs.Geo
	if g.Country != "" {
		v.NewCountry = p.Country(countryCode(g.Country)) < 0
	}
	if last := &p.Last; last.At != 0 {
		hours := float64(obs.At-last.At) / 3600
		v.SinceLastLoginH = hours
		if last.HasLocation && g.HasLocation {
			v.TravelKm, v.TravelKmh = travel(float64(last.Lat), float64(last.Lon), last.RadiusKm, g.Lat, g.Lon, g.RadiusKm, hours)
		}
	}
	x.fillHabits(p, obs, v)
}

// fillHabits fills the fields that compare the login with the user's History.
func (x *Extractor) fillHabits(p *store.Profile, obs *Observation, v *Vector) {
	h := &p.History
	v.HistoryLogins = h.Logins()
	if v.HistoryLogins == 0 {
		return
	}
	t := &obs.Traits
	v.NewNetwork = isNew(h, store.HabitNetwork, t.Network)
	v.NewASN = isNew(h, store.HabitASN, obs.Geo.ASN)
	v.NewCity = isNew(h, store.HabitCity, obs.Geo.CityID)
	v.NewUA = isNew(h, store.HabitAgent, t.Agent)
	v.UsualHour = h.Hours[store.HourBin(obs.At)].Logins != 0
	v.LoginRisk, v.Familiarity = x.pop.score(p, obs)
}

// isNew reports whether key is known for the event, the user's history has values of kind k, and key is not
// among them.
func isNew(h *store.History, k store.HabitKind, key uint32) bool {
	if key == 0 {
		return false
	}
	c, n := h.Seen(k, key)
	return n > 0 && c == 0
}

// learnLogin teaches the user's profile and the population a confirmed login (kind OpLogin, or OpTrust after a
// passed MFA, the trust holding for trustedBy: store.Device.TrustedBy).
func (x *Extractor) learnLogin(obs *Observation, kind store.OpKind, trustedBy uint32) {
	op := loginOp(obs, kind)
	op.TrustedBy = trustedBy
	x.pop.Learn(&op)
	x.state.Apply(obs.UserKey, op)
}

// loginOp is the profile change of a confirmed login (kind OpLogin, or OpTrust after a passed MFA).
func loginOp(obs *Observation, kind store.OpKind) store.ProfileOp {
	g := &obs.Geo
	return store.ProfileOp{
		Kind: kind, At: obs.At, Device: obs.DeviceKey, HasDevice: obs.HasDevice,
		Place: store.Place{Lat: float32(g.Lat), Lon: float32(g.Lon), RadiusKm: g.RadiusKm, HasLocation: g.HasLocation,
			Country: countryCode(g.Country), CityID: g.CityID, ASN: g.ASN},
		Network: obs.Traits.Network, Agent: obs.Traits.Agent, Class: obs.Traits.Class,
	}
}

func countryCode(s string) [2]byte {
	var c [2]byte
	if len(s) == 2 {
		c[0], c[1] = s[0], s[1]
	}
	return c
}
