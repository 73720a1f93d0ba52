package features

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/features/money"
	"github.com/riskd/riskd/features/useragent"
	"github.com/riskd/riskd/store"
)

// Extractor computes feature vectors from events and state, and records what events and outcomes teach.
type Extractor struct {
	hash  Hasher
	state store.State
	geo   atomic.Pointer[geo.DB]
	ua    *useragent.Parser
	pop   *Population // how common each habit is among confirmed logins (familiarity.go)
	rates atomic.Pointer[money.Rates]
}

// NewExtractor returns an extractor over state, hashing identifiers with h. db may be nil (no geo data). It
// parses user agents with a useragent.Parser of the default cache size, whose regexes compile on the first
// user agent; SetUserAgents replaces it.
func NewExtractor(h Hasher, state store.State, db *geo.DB) *Extractor {
	x := &Extractor{hash: h, state: state, ua: useragent.New(0), pop: NewPopulation()}
	x.geo.Store(db)
	x.rates.Store(money.Default())
	return x
}

// SetUserAgents sets the user-agent parser (nil: no user-agent features). Call it before the first Extract.
func (x *Extractor) SetUserAgents(p *useragent.Parser) { x.ua = p }

// UserAgents returns the user-agent parser in use, e.g. to Warm it at start-up.
func (x *Extractor) UserAgents() *useragent.Parser { return x.ua }

// SwapGeo publishes a new geo database for the requests that start after it and returns the previous one,
// which the caller closes once in-flight requests are done with it.
func (x *Extractor) SwapGeo(db *geo.DB) *geo.DB { return x.geo.Swap(db) }

// Geo returns the geo database in use (nil when none).
func (x *Extractor) Geo() *geo.DB { return x.geo.Load() }

// Observation is the working state of one event between Extract and Record: its keys, its location and the
// state as it was read. The caller owns it and may reuse it.
type Observation struct {
	At                        int64 // event time, unix seconds
	UserKey, IPKey, DeviceKey uint64
	SubnetKey, ASNKey         uint64 // the address's /24 or /64, its ASN's; 0 when unknown
	HasUser, HasDevice        bool
	Geo                       geo.Info      // the address's, copied in (its names alias the GeoIP file in memory)
	State                     store.Reading // counters and profile before this event
	Scope                     Scope         // the scope the event is also counted in (txvelocity.go)
	Scoped                    store.Reading // the scope's counters and facts before this event; read only with a Scope
	MFA                       MFAPreference // effective preference
	Traits                    Traits        // the login's habits, for what Record teaches (profile.go)
}

// Extract fills obs and v for ev. It reads state and, in the same step, counts the event's attempt (and a
// failure, when its credentials were wrong): read and count are one operation, so that instances sharing state
// count an attack spread across them exactly as one instance would. The vector sees the counts from before this
// event. What the event teaches beyond that waits for its verdict (Record).
func (x *Extractor) Extract(ev *Event, obs *Observation, v *Vector) {
	x.observe(ev.Time, ev.UserID, ev.IP, ev.DeviceID, obs)
	count := store.SetOf(store.Attempts)
	if ev.HasCredentials && !ev.CredentialsValid {
		count |= store.SetOf(store.Failures)
	}
	ua := x.ua.Lookup(ev.UserAgent)
	x.traits(obs.SubnetKey, ua.Browser, ua.OS, ua.DeviceClass, &obs.Traits)
	s := obs.subjects()
	s.Country, s.UA = countryCode(obs.Geo.Country), obs.Traits.Agent
	s.Amount, s.HasAmount = ev.Reporting, ev.HasAmount
	x.state.Observe(s, obs.At, count, &obs.State)
	x.observeScoped(ev, obs)
	*v = Vector{}

	v.Event = ev.Type.String()
	v.Tenant = ev.Tenant
	v.Channel = ev.Channel
	v.Amount = ev.Reporting
	v.Currency = ev.Currency
	v.Sensitive = ev.Type.Sensitive()
	v.CredentialsKnown = ev.HasCredentials
	v.CredentialsValid = ev.HasCredentials && ev.CredentialsValid
	v.HasDevice = obs.HasDevice
	v.HasUserAgent = ev.UserAgent != ""
	v.Hour = int(obs.At % 86400 / 3600)

	fillGeo(&obs.Geo, v)
	fillUserAgent(ua, v)
	fillVelocity(obs, v)
	fillTransactionVelocity(obs, v)
	x.fillProfile(obs, v)
	fillMoney(ev, obs, v)

	obs.MFA = ev.MFAPreference
	if obs.MFA == MFAUnset && obs.State.HasProfile {
		obs.MFA = MFAPreference(obs.State.Profile.MFAPreference)
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
	obs.IPKey, obs.SubnetKey, obs.ASNKey = 0, 0, 0
	x.geo.Load().LookupInto(ip, &obs.Geo)
	if ip.IsValid() {
		obs.IPKey = x.hash.IP(ip)
		obs.SubnetKey = x.hash.Subnet(ip)
	}
	if obs.Geo.ASN != 0 {
		obs.ASNKey = x.hash.ASN(obs.Geo.ASN)
	}
}

// subjects names the event's subjects for the state.
func (obs *Observation) subjects() store.Subjects {
	return store.Subjects{User: obs.UserKey, IP: obs.IPKey, Device: obs.DeviceKey, Subnet: obs.SubnetKey, ASN: obs.ASNKey,
		HasUser: obs.HasUser, HasIP: obs.IPKey != 0, HasDevice: obs.HasDevice, HasSubnet: obs.SubnetKey != 0,
		HasASN: obs.ASNKey != 0}
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

func fillUserAgent(u *useragent.Info, v *Vector) {
	v.UABrowser = u.Browser
	v.UABrowserMajor = u.BrowserMajor
	v.UAOS = u.OS
	v.UADeviceClass = u.DeviceClass
	v.UAIsBot = u.IsBot
}

// Verdict is what the caller decided for an event, as far as state is concerned.
type Verdict uint8

// Verdicts.
const (
	VerdictAllow Verdict = iota + 1
	VerdictStepUp
	VerdictDeny
)

// Lessons are the parts of what one login attempt teaches the state. A login is often reported more than once
// (the decision that allowed it, then its login_succeeded; a passed MFA, then its login_succeeded; a decision
// told the credentials were wrong, then its login_failed; an outcome delivered twice), and each part must be
// taught once: counted twice, a login would read as twice as habitual, a failure as twice the attack.
type Lessons uint8

// The lessons of a login attempt.
const (
	LessonSuccess  Lessons = 1 << iota // a success in the velocity windows
	LessonLogin                        // the login in the profile (devices, countries, place, history) and the population
	LessonTrust                        // the login's device trusted: a second factor passed on it
	LessonFailure                      // a failure in the velocity windows (login_failed, mfa_failed)
	LessonPurchase                     // a purchase in the spend profile (checkout_completed)

	// LessonsTaught are what a decision that learned its login taught (Record).
	LessonsTaught = LessonSuccess | LessonLogin
)

// Lessons returns what an outcome of type t teaches of its login: login_succeeded and legit_confirmed a success
// and the login, mfa_passed the login and trust (not a success: the login's own outcome counts that),
// login_failed and mfa_failed a failure, payment_declined a failure of its checkout (a decline). Other types teach no lesson (fraud_confirmed forgets a device whatever
// the lessons).
func (t OutcomeType) Lessons() Lessons {
	switch t {
	case LoginSucceeded, LegitConfirmed:
		return LessonSuccess | LessonLogin
	case MFAPassed:
		return LessonLogin | LessonTrust
	case LoginFailed, MFAFailed, PaymentDeclined:
		return LessonFailure
	case CheckoutCompleted:
		return LessonPurchase
	}
	return 0
}

// Record updates state with what ev and its verdict teach, beyond the attempt and failure Extract counted: for
// an allowed event with valid credentials (or an allowed registration), a success and the user's profile. A
// stepped-up event teaches the profile only when its MFA passes (see Learn), and a failure never creates a
// profile, so an attacker cannot grow the profile table. It returns what the event taught: LessonsTaught,
// LessonFailure for wrong credentials (the failure Extract counted), or none.
func (x *Extractor) Record(ev *Event, obs *Observation, verdict Verdict) Lessons {
	if ev.HasCredentials && !ev.CredentialsValid {
		return LessonFailure
	}
	x.recordSequence(ev, obs, verdict)
	if verdict != VerdictAllow || !obs.HasUser {
		return 0
	}
	if (ev.Type == Login && ev.HasCredentials && ev.CredentialsValid) || ev.Type == Registration {
		x.state.Count(obs.subjects(), store.SetOf(store.Successes), obs.At)
		x.learnLogin(obs, store.OpLogin, 0)
		return LessonsTaught
	}
	return 0
}

// Learn updates state with an outcome, teaching all of a confirmed login's lessons. It reads the outcome's
// strings only during the call, and reads no state.
func (x *Extractor) Learn(o *Outcome) { x.LearnOnly(o, o.Type.Lessons()) }

// LearnOnly is Learn teaching only the lessons in l: the caller knows the login taught the others already, or
// that a failure was counted (engine.Engine.Record, by the outcome's evaluation id). fraud_confirmed is applied
// whatever l says.
func (x *Extractor) LearnOnly(o *Outcome, l Lessons) {
	var obs Observation
	x.observe(o.Time, o.UserID, o.IP, o.DeviceID, &obs)
	s := obs.subjects()
	switch o.Type {
	case LoginSucceeded, LegitConfirmed:
		if l&LessonSuccess != 0 {
			x.state.Count(s, store.SetOf(store.Successes), obs.At)
		}
		if l&LessonLogin != 0 && obs.HasUser {
			x.outcomeTraits(o, &obs)
			x.learnLogin(&obs, store.OpLogin, 0)
		}
	case MFAPassed:
		var by uint32 // trust for every tenant, unless a key restricted to tenants reported it
		if o.Scoped {
			by = x.hash.Tenant(o.Tenant)
		}
		switch {
		case !obs.HasUser:
		case l&LessonLogin != 0:
			x.outcomeTraits(o, &obs)
			x.learnLogin(&obs, store.OpTrust, by)
		case l&LessonTrust != 0 && obs.HasDevice:
			// The login is in the profile already (its decision or outcome taught it): only the trust is new.
			x.state.Apply(obs.UserKey, store.ProfileOp{Kind: store.OpTrustDevice, Device: obs.DeviceKey, HasDevice: true, At: obs.At, TrustedBy: by})
		}
	case LoginFailed, MFAFailed:
		if l&LessonFailure != 0 {
			x.state.Count(s, store.SetOf(store.Failures), obs.At)
		}
	case PaymentDeclined:
		// Counted in the checkout scope only: a declined card is no failed login, and must not lock the user out.
		if l&LessonFailure != 0 {
			x.countDecline(&obs)
		}
	case CheckoutCompleted:
		if l&LessonPurchase != 0 && obs.HasUser && o.HasAmount {
			x.state.Apply(obs.UserKey, store.ProfileOp{Kind: store.OpPurchase, At: obs.At, Amount: o.Reporting})
		}
	case FraudConfirmed, Chargeback:
		// The device was in an attacker's hands: it is no longer known, let alone trusted.
		if obs.HasUser && obs.HasDevice {
			x.state.Apply(obs.UserKey, store.ProfileOp{Kind: store.OpForgetDevice, Device: obs.DeviceKey, HasDevice: true, At: obs.At})
		}
	case PasswordChanged:
		// Nothing learned: a password change says nothing about where the user is. The sequence a checkout may
		// follow is the password_reset decision, which knew whether its device was new to the user.
	}
}

// SetMFAPreference stores a user's MFA preference.
func (x *Extractor) SetMFAPreference(userID string, pref MFAPreference, at int64) {
	x.state.Apply(x.hash.User(userID), store.ProfileOp{Kind: store.OpSetMFA, MFA: uint8(pref), At: at / int64(time.Second)})
}

// ExportUser copies what riskd holds about a user into out: the profile with its behaviour history, and the
// user's velocity counters and facts at time at (unix nanoseconds). It reports whether anything is held; with
// shared state an error (store.ErrUnavailable) means the shared store could not be read, so the answer would be
// incomplete.
func (x *Extractor) ExportUser(userID string, at int64, out *store.UserData) (bool, error) {
	return x.state.Export(x.hash.User(userID), at/int64(time.Second), out)
}

// DeviceClass names the device class that History.Classes[i] counts, as useragent names it.
func DeviceClass(i int) string {
	switch uint8(i + 1) {
	case classDesktop:
		return useragent.Desktop
	case classMobile:
		return useragent.Mobile
	case classTablet:
		return useragent.Tablet
	case classBot:
		return useragent.Bot
	}
	return ""
}

// EvaluationTag returns the keyed tag binding an evaluation's serial number to its tenant (Hasher.Evaluation).
func (x *Extractor) EvaluationTag(serial uint64, tenant string) uint64 {
	return x.hash.Evaluation(serial, tenant)
}

// TenantKey returns the key trust reported for tenant alone is marked with (Hasher.Tenant), to name it in exports.
func (x *Extractor) TenantKey(tenant string) uint32 { return x.hash.Tenant(tenant) }

// UserKey returns the keyed hash riskd stores a user under; it names the user in logs without the id.
func (x *Extractor) UserKey(userID string) uint64 { return x.hash.User(userID) }

// EraseUser forgets everything keyed by the user, in memory, on disk and in Redis: profile and velocity
// counters. It reports whether a profile was held, and returns once the erasure is durable; an error means it
// must be retried. Counters of the user's IPs and devices are not personal to the user and age out on their own.
// The user's scoped records (checkouts, declines: txvelocity.go) are keyed from the user's key and erased with it.
func (x *Extractor) EraseUser(userID string) (bool, error) {
	key := x.hash.User(userID)
	had, err := x.state.Erase(key)
	if err != nil {
		return had, err
	}
	return had, x.eraseScoped(key)
}

// StateHealth is nil while state is fully available, else what is degraded (for readiness and operators).
func (x *Extractor) StateHealth() error { return x.state.Health() }
