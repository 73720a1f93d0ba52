package features

import "github.com/riskd/riskd/store"

// Transaction and registration velocity.
//
// Every decision counts as an attempt of its user, address, device, network (/24, /64) and ASN (velocity.go),
// whatever its type: that is what login attacks are measured by. Card testing and account farms are measured
// by checkouts and registrations alone, which a busy user's logins would drown. So a checkout or a registration
// is observed twice: once as every event is, and once more under scoped keys, each subject's key hashed again
// with the event's scope (Hasher.Scoped). The same store, the same windows and the same facts then count the
// scope's events alone: its attempts are checkouts (or registrations), and the facts of a scoped address or
// device are the distinct users who checked out (or registered) there. The store needs no change; the cost is
// a second store round for those events only.
//
// In a checkout's scoped records the three metrics mean: Attempts checkouts, Failures declined payments
// (payment_declined outcomes), Successes small-amount checkouts (below SmallCheckoutAmount), which is what card
// testers make to learn whether a stolen card works. A scoped record holds no login, success or failure of
// another kind, so nothing else is counted there.

// Scope is a class of events counted apart under scoped keys.
type Scope uint8

// The scopes.
const (
	ScopeNone Scope = iota
	ScopeCheckout
	ScopeRegistration
	numScopes
)

// What the metrics of a checkout's scoped records count (a registration's count registrations as Attempts).
const (
	CheckoutsMetric      = store.Attempts
	DeclinesMetric       = store.Failures
	SmallCheckoutsMetric = store.Successes
)

// SmallCheckoutAmount is the amount, in the reporting currency, below which a checkout counts as a small one:
// the sums card testers charge to try a card (a few units) are below it, and so are a minority of genuine
// purchases, which is why small checkouts are a signal only in numbers, per device and per address.
const SmallCheckoutAmount = 10

// scopeOf returns the scope events of type t are also counted in.
func scopeOf(t EventType) Scope {
	switch t {
	case Checkout:
		return ScopeCheckout
	case Registration:
		return ScopeRegistration
	}
	return ScopeNone
}

// scopedSubjects returns the subjects of obs under the keys of scope sc. They add no country, user agent or
// amount to the facts: the unscoped observation adds those already.
func (x *Extractor) scopedSubjects(obs *Observation, sc Scope) store.Subjects {
	s := obs.subjects()
	h := x.hash
	if s.HasUser {
		s.User = h.Scoped(s.User, sc)
	}
	if s.HasIP {
		s.IP = h.Scoped(s.IP, sc)
	}
	if s.HasDevice {
		s.Device = h.Scoped(s.Device, sc)
	}
	if s.HasSubnet {
		s.Subnet = h.Scoped(s.Subnet, sc)
	}
	if s.HasASN {
		s.ASN = h.Scoped(s.ASN, sc)
	}
	return s
}

// observeScoped reads and counts ev in its scope's records (obs.Scoped); events of no scope leave obs.Scoped
// as it was and are not read from it.
func (x *Extractor) observeScoped(ev *Event, obs *Observation) {
	obs.Scope = scopeOf(ev.Type)
	if obs.Scope == ScopeNone {
		return
	}
	count := store.SetOf(store.Attempts)
	if obs.Scope == ScopeCheckout && ev.HasAmount && ev.Reporting < SmallCheckoutAmount {
		count |= store.SetOf(SmallCheckoutsMetric)
	}
	x.state.Observe(x.scopedSubjects(obs, obs.Scope), obs.At, count, &obs.Scoped)
}

// countDecline counts a declined payment in the checkout scope of the outcome's subjects.
func (x *Extractor) countDecline(obs *Observation) {
	x.state.Count(x.scopedSubjects(obs, ScopeCheckout), store.SetOf(DeclinesMetric), obs.At)
}

// fillTransactionVelocity fills the vector's transaction and registration velocity from the scoped reading.
func fillTransactionVelocity(obs *Observation, v *Vector) {
	r := &obs.Scoped
	switch obs.Scope {
	case ScopeCheckout:
		if obs.HasUser {
			c, d := &r.User[CheckoutsMetric], &r.User[DeclinesMetric]
			v.UserCheckouts1h, v.UserCheckouts24h = int(c[store.Hour]), int(c[store.Day])
			v.UserDeclines1h, v.UserDeclines24h = int(d[store.Hour]), int(d[store.Day])
			v.UserSmallCheckouts1h = int(r.User[SmallCheckoutsMetric][store.Hour])
		}
		if obs.HasDevice {
			c, d, s := &r.Device[CheckoutsMetric], &r.Device[DeclinesMetric], &r.Device[SmallCheckoutsMetric]
			v.DeviceCheckouts1h, v.DeviceCheckouts24h = int(c[store.Hour]), int(c[store.Day])
			v.DeviceDeclines1h, v.DeviceDeclines24h = int(d[store.Hour]), int(d[store.Day])
			v.DeviceSmallCheckouts1h, v.DeviceSmallCheckouts24h = int(s[store.Hour]), int(s[store.Day])
			v.DeviceCheckoutUsers24h = int(r.Facts.DeviceUsers24h)
		}
		if obs.IPKey != 0 {
			c, d, s := &r.IP[CheckoutsMetric], &r.IP[DeclinesMetric], &r.IP[SmallCheckoutsMetric]
			v.IPCheckouts10m, v.IPCheckouts1h, v.IPCheckouts24h = int(c[store.TenMinutes]), int(c[store.Hour]), int(c[store.Day])
			v.IPDeclines1h, v.IPDeclines24h = int(d[store.Hour]), int(d[store.Day])
			v.IPSmallCheckouts1h, v.IPSmallCheckouts24h = int(s[store.Hour]), int(s[store.Day])
			v.IPCheckoutUsers1h, v.IPCheckoutUsers24h = int(r.Facts.IPUsers1h), int(r.Facts.IPUsers24h)
		}
		if obs.SubnetKey != 0 {
			v.SubnetCheckouts1h = int(r.Subnet[CheckoutsMetric][store.Hour])
			v.SubnetDeclines1h = int(r.Subnet[DeclinesMetric][store.Hour])
			v.SubnetCheckoutUsers1h = int(r.Facts.SubnetUsers1h)
		}
		if obs.ASNKey != 0 {
			v.ASNCheckouts10m = int(r.ASN[CheckoutsMetric][store.TenMinutes])
			v.ASNDeclines1h = int(r.ASN[DeclinesMetric][store.Hour])
		}
	case ScopeRegistration:
		if obs.IPKey != 0 {
			c := &r.IP[store.Attempts]
			v.IPRegistrations1m, v.IPRegistrations10m, v.IPRegistrations1h, v.IPRegistrations24h = int(c[0]), int(c[1]), int(c[2]), int(c[3])
		}
		if obs.SubnetKey != 0 {
			c := &r.Subnet[store.Attempts]
			v.SubnetRegistrations1m, v.SubnetRegistrations10m, v.SubnetRegistrations1h, v.SubnetRegistrations24h = int(c[0]), int(c[1]), int(c[2]), int(c[3])
		}
		if obs.ASNKey != 0 {
			c := &r.ASN[store.Attempts]
			v.ASNRegistrations1m, v.ASNRegistrations10m, v.ASNRegistrations1h, v.ASNRegistrations24h = int(c[0]), int(c[1]), int(c[2]), int(c[3])
		}
		if obs.HasDevice {
			c := &r.Device[store.Attempts]
			v.DeviceRegistrations1m, v.DeviceRegistrations10m, v.DeviceRegistrations1h, v.DeviceRegistrations24h = int(c[0]), int(c[1]), int(c[2]), int(c[3])
			v.DeviceAccounts24h = int(r.Facts.DeviceUsers24h)
		}
	}
}

// eraseScoped forgets the user's scoped records: they are the user's data as much as the unscoped ones.
func (x *Extractor) eraseScoped(user uint64) error {
	for sc := ScopeCheckout; sc < numScopes; sc++ {
		if _, err := x.state.Erase(x.hash.Scoped(user, sc)); err != nil {
			return err
		}
	}
	return nil
}

// ExportUserScoped copies the user's records of scope sc (its checkouts, declines and small checkouts, or its
// registrations) into out, as ExportUser does for the unscoped ones; at is unix nanoseconds.
func (x *Extractor) ExportUserScoped(userID string, sc Scope, at int64, out *store.UserData) (bool, error) {
	return x.state.Export(x.hash.Scoped(x.hash.User(userID), sc), at/1e9, out)
}
