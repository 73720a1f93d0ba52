package features

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/store"
)

// State is the learned state the extractor reads and writes.
type State struct {
	Users    *store.Velocity // per user id
	IPs      *store.Velocity // per IP address
	Devices  *store.Velocity // per device id
	Profiles *store.Profiles
}

// NewState returns empty in-memory state; maxKeys bounds each velocity table.
func NewState(maxKeys int) *State {
	return &State{
		Users:    store.NewVelocity(maxKeys),
		IPs:      store.NewVelocity(maxKeys),
		Devices:  store.NewVelocity(maxKeys),
		Profiles: store.NewProfiles(),
	}
}

// Extractor computes feature vectors from events and state, and records what events and outcomes teach.
type Extractor struct {
	hash  Hasher
	state *State
	geo   atomic.Pointer[geo.DB]
}

// NewExtractor returns an extractor over state, hashing identifiers with h. db may be nil (no geo data).
func NewExtractor(h Hasher, state *State, db *geo.DB) *Extractor {
	x := &Extractor{hash: h, state: state}
	x.geo.Store(db)
	return x
}

// SwapGeo publishes a new geo database for the requests that start after it and returns the previous one,
// which the caller closes once in-flight requests are done with it.
func (x *Extractor) SwapGeo(db *geo.DB) *geo.DB { return x.geo.Swap(db) }

// Geo returns the geo database in use (nil when none).
func (x *Extractor) Geo() *geo.DB { return x.geo.Load() }

// Observation is the working state of one event between Extract and Record: its keys, its location and the
// user's profile as it was read. The caller owns it and may reuse it.
type Observation struct {
	At                        int64 // event time, unix seconds
	UserKey, IPKey, DeviceKey uint64
	HasUser, HasDevice        bool
	Geo                       *geo.Info
	HasProfile                bool
	Profile                   store.Profile
	MFA                       MFAPreference // effective preference
}

// Extract fills obs and v for ev. It reads state and changes nothing.
func (x *Extractor) Extract(ev *Event, obs *Observation, v *Vector) {
	x.observe(ev.Time, ev.UserID, ev.IP, ev.DeviceID, obs)
	*v = Vector{}

	v.Event = ev.Type.String()
	v.Tenant = ev.Tenant
	v.Channel = ev.Channel
	v.Amount = ev.Amount
	v.Currency = ev.Currency
	v.Sensitive = ev.Type.Sensitive()
	v.CredentialsKnown = ev.HasCredentials
	v.CredentialsValid = ev.HasCredentials && ev.CredentialsValid
	v.HasDevice = obs.HasDevice
	v.HasUserAgent = ev.UserAgent != ""
	v.Hour = int(obs.At % 86400 / 3600)

	fillGeo(obs.Geo, v)
	x.fillVelocity(obs, v)
	fillProfile(obs, v)

	obs.MFA = ev.MFAPreference
	if obs.MFA == MFAUnset && obs.HasProfile {
		obs.MFA = MFAPreference(obs.Profile.MFAPreference)
	}
	if obs.MFA == MFAUnset {
		obs.MFA = MFAAdaptive
	}
	v.MFAPreference = obs.MFA.String()
}

func (x *Extractor) observe(t int64, userID string, ip netip.Addr, deviceID string, obs *Observation) {
	obs.At = t / int64(time.Second)
	obs.HasUser = userID != ""
	obs.UserKey = 0
	if obs.HasUser {
		obs.UserKey = x.hash.User(userID)
	}
	obs.HasDevice = deviceID != ""
	obs.DeviceKey = 0
	if obs.HasDevice {
		obs.DeviceKey = x.hash.Device(deviceID)
	}
	obs.IPKey = 0
	obs.Geo = x.geo.Load().Lookup(ip)
	if ip.IsValid() {
		obs.IPKey = x.hash.IP(ip)
	}
	obs.HasProfile = obs.HasUser && x.state.Profiles.Get(obs.UserKey, &obs.Profile)
	if !obs.HasProfile {
		obs.Profile = store.Profile{}
	}
}

func fillGeo(g *geo.Info, v *Vector) {
	v.GeoKnown = g.HasLocation || g.Country != ""
	v.Country = g.Country
	v.Region = g.Region
	v.City = g.City
	v.Lat, v.Lon = g.Lat, g.Lon
	v.AccuracyKm = int(g.RadiusKm)
	v.ASN = int(g.ASN)
	v.ASOrg = g.ASOrg
	v.IsAnonymous = g.Anonymous || g.VPN || g.Tor || g.PublicProxy || g.ResidentialProxy
	v.IsVPN = g.VPN
	v.IsTor = g.Tor
	v.IsHosting = g.Hosting
	v.IsPublicProxy = g.PublicProxy
	v.IsResidentialProxy = g.ResidentialProxy
}

func (x *Extractor) fillVelocity(obs *Observation, v *Vector) {
	var c [store.NumMetrics]store.Counts
	if obs.HasUser {
		x.state.Users.Read(obs.UserKey, obs.At, &c)
		a, f := &c[store.Attempts], &c[store.Failures]
		v.UserAttempts1m, v.UserAttempts10m, v.UserAttempts1h, v.UserAttempts24h = int(a[0]), int(a[1]), int(a[2]), int(a[3])
		v.UserFailures1m, v.UserFailures10m, v.UserFailures1h, v.UserFailures24h = int(f[0]), int(f[1]), int(f[2]), int(f[3])
	}
	if obs.IPKey != 0 {
		x.state.IPs.Read(obs.IPKey, obs.At, &c)
		a, f := &c[store.Attempts], &c[store.Failures]
		v.IPAttempts1m, v.IPAttempts10m, v.IPAttempts1h, v.IPAttempts24h = int(a[0]), int(a[1]), int(a[2]), int(a[3])
		v.IPFailures1m, v.IPFailures10m, v.IPFailures1h, v.IPFailures24h = int(f[0]), int(f[1]), int(f[2]), int(f[3])
	}
	if obs.HasDevice {
		x.state.Devices.Read(obs.DeviceKey, obs.At, &c)
		a, f := &c[store.Attempts], &c[store.Failures]
		v.DeviceAttempts1m, v.DeviceAttempts1h = int(a[store.Minute]), int(a[store.Hour])
		v.DeviceFailures1m, v.DeviceFailures1h = int(f[store.Minute]), int(f[store.Hour])
	}
}

func fillProfile(obs *Observation, v *Vector) {
	p := &obs.Profile
	v.UserLogins = int(p.Logins)
	v.NewUser = p.Logins == 0
	v.KnownDevices = int(p.NumDevices)
	v.CountriesSeen = int(p.NumCountries)
	v.SinceLastLoginH = -1
	if p.Created != 0 {
		v.AccountAgeDays = float64(obs.At-p.Created) / 86400
	}
	if v.NewUser {
		return
	}
	if obs.HasDevice {
		if i := p.Device(obs.DeviceKey); i >= 0 {
			v.TrustedDevice = p.Devices[i].TrustedAt != 0
		} else {
			v.NewDevice = true
		}
	}
	g := obs.Geo
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
}

func countryCode(s string) [2]byte {
	var c [2]byte
	if len(s) == 2 {
		c[0], c[1] = s[0], s[1]
	}
	return c
}

// Verdict is what the caller decided for an event, as far as state is concerned.
type Verdict uint8

// Verdicts.
const (
	VerdictAllow Verdict = iota + 1
	VerdictStepUp
	VerdictDeny
)

// Record updates state with what ev and its verdict teach: attempt and failure counters always, and, for an
// allowed event with valid credentials (or an allowed registration), the user's profile. A stepped-up event
// teaches the profile only when its MFA passes (see Learn).
func (x *Extractor) Record(ev *Event, obs *Observation, verdict Verdict) {
	x.count(obs, store.Attempts)
	if ev.HasCredentials && !ev.CredentialsValid {
		x.count(obs, store.Failures)
		return
	}
	if verdict != VerdictAllow || !obs.HasUser {
		return
	}
	if (ev.Type == Login && ev.HasCredentials && ev.CredentialsValid) || ev.Type == Registration {
		x.count(obs, store.Successes)
		x.learn(obs, false)
	}
}

// Learn updates state with an outcome. It reads the outcome's strings only during the call.
func (x *Extractor) Learn(o *Outcome) {
	var obs Observation
	x.observe(o.Time, o.UserID, o.IP, o.DeviceID, &obs)
	switch o.Type {
	case LoginSucceeded, LegitConfirmed:
		x.count(&obs, store.Successes)
		x.learn(&obs, false)
	case MFAPassed:
		x.learn(&obs, true)
	case LoginFailed, MFAFailed:
		x.count(&obs, store.Failures)
	case FraudConfirmed:
		// The device was in an attacker's hands: it is no longer known, let alone trusted.
		if obs.HasUser && obs.HasDevice && obs.HasProfile {
			x.state.Profiles.Update(obs.UserKey, func(p *store.Profile) { p.ForgetDevice(obs.DeviceKey) })
		}
	case PasswordChanged:
		// Nothing learned yet: a password change says nothing about where the user is.
	}
}

func (x *Extractor) count(obs *Observation, m store.Metric) {
	if obs.HasUser {
		x.state.Users.Add(obs.UserKey, m, obs.At, 1)
	}
	if obs.IPKey != 0 {
		x.state.IPs.Add(obs.IPKey, m, obs.At, 1)
	}
	if obs.HasDevice {
		x.state.Devices.Add(obs.DeviceKey, m, obs.At, 1)
	}
}

// learn adds a confirmed login to the user's profile; trust marks its device trusted (a passed MFA).
func (x *Extractor) learn(obs *Observation, trust bool) {
	if !obs.HasUser {
		return
	}
	g := obs.Geo
	x.state.Profiles.Update(obs.UserKey, func(p *store.Profile) {
		at := obs.At
		if p.Created == 0 || at < p.Created {
			p.Created = at
		}
		p.Logins++
		if obs.HasDevice {
			if trust {
				p.TrustDevice(obs.DeviceKey, at)
			} else {
				p.SeeDevice(obs.DeviceKey, at)
			}
		}
		if g.Country != "" {
			p.SeeCountry(countryCode(g.Country), at)
		}
		// An older event (an import, a late outcome) must not move the user back in time.
		if at >= p.Last.At {
			p.Last = store.Place{
				At: at, Lat: float32(g.Lat), Lon: float32(g.Lon), RadiusKm: g.RadiusKm, HasLocation: g.HasLocation,
				Country: countryCode(g.Country), CityID: g.CityID, ASN: g.ASN,
			}
		}
	})
}

// SetMFAPreference stores a user's MFA preference.
func (x *Extractor) SetMFAPreference(userID string, pref MFAPreference, at int64) {
	x.state.Profiles.Update(x.hash.User(userID), func(p *store.Profile) {
		if p.Created == 0 {
			p.Created = at / int64(time.Second)
		}
		p.MFAPreference = uint8(pref)
	})
}

// Export copies what riskd holds about a user: the profile and the user's velocity counters at time at.
func (x *Extractor) Export(userID string, at int64, p *store.Profile, c *[store.NumMetrics]store.Counts) bool {
	k := x.hash.User(userID)
	if !x.state.Profiles.Get(k, p) {
		*p = store.Profile{}
		x.state.Users.Read(k, at/int64(time.Second), c)
		return hasCounts(c)
	}
	x.state.Users.Read(k, at/int64(time.Second), c)
	return true
}

func hasCounts(c *[store.NumMetrics]store.Counts) bool {
	for _, m := range c {
		for _, n := range m {
			if n != 0 {
				return true
			}
		}
	}
	return false
}

// UserKey returns the keyed hash riskd stores a user under; it names the user in logs without the id.
func (x *Extractor) UserKey(userID string) uint64 { return x.hash.User(userID) }

// Erase forgets everything keyed by the user: profile and velocity counters, and reports whether a profile was
// held. Counters of the user's IPs and devices are not personal to the user and age out on their own.
func (x *Extractor) Erase(userID string) bool {
	k := x.hash.User(userID)
	x.state.Users.Delete(k)
	return x.state.Profiles.Delete(k)
}
