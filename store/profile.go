package store

// Bounds of a profile. They keep a profile well under 1 KiB whatever a user (or an attacker) does.
const (
	MaxDevices   = 8
	MaxCountries = 8
)

// Device is one device a user has logged in from.
type Device struct {
	Key       uint64 // keyed hash of the client's device id
	FirstSeen int64
	LastSeen  int64
	TrustedAt int64 // when an MFA challenge passed on this device; 0 = not trusted
	// TrustedBy is whom the trust holds for: 0 every tenant (an identity-wide key reported the passed MFA), else
	// the one tenant (its key, Hasher.Tenant in package features) whose tenant-restricted key reported it.
	TrustedBy uint32
}

// Country is one country a user has logged in from. Fields are ordered largest first so that the value packs into
// 16 bytes, not 24: a profile holds eight of them.
type Country struct {
	LastSeen int64
	Logins   uint32
	Code     [2]byte // ISO 3166-1 alpha-2
}

// Place is where and when a login happened, kept for impossible-travel checks.
type Place struct {
	At          int64 // event time, unix seconds; 0 = none
	Lat, Lon    float32
	RadiusKm    uint16
	HasLocation bool
	Country     [2]byte
	CityID      uint32
	ASN         uint32
}

// Profile is what riskd has learned about one user from successful or MFA-confirmed logins. It is a plain value
// with fixed-size arrays so that copying it out of the store allocates nothing. The small counters sit together
// after Logins, where they would otherwise be padding.
type Profile struct {
	Created       int64 // first event time seen for this user
	Logins        uint32
	MFAPreference uint8 // stored preference; meaning defined by package features
	NumDevices    uint8
	NumCountries  uint8
	Devices       [MaxDevices]Device
	Countries     [MaxCountries]Country
	Last          Place     // last successful login
	History       History   // the user's habits: networks, ASNs, cities, clients, hours (history.go)
	Spend         Spend     // what the customer usually spends (spend.go)
	Sequences     Sequences // the last password reset, payment-method change and profile change (spend.go)
}

// Device returns the index of the device with key k, or -1.
func (p *Profile) Device(k uint64) int {
	for i := range int(p.NumDevices) {
		if p.Devices[i].Key == k {
			return i
		}
	}
	return -1
}

// SeeDevice records a login from device k at time at and returns its index. When the profile is full the
// device seen least recently makes room, unless it is trusted and an untrusted one can go instead.
func (p *Profile) SeeDevice(k uint64, at int64) int {
	if i := p.Device(k); i >= 0 {
		d := &p.Devices[i]
		d.LastSeen = max(d.LastSeen, at)
		d.FirstSeen = min(d.FirstSeen, at)
		return i
	}
	i := int(p.NumDevices)
	if i == MaxDevices {
		i = p.evictableDevice()
	} else {
		p.NumDevices++
	}
	p.Devices[i] = Device{Key: k, FirstSeen: at, LastSeen: at}
	return i
}

func (p *Profile) evictableDevice() int {
	victim := -1
	for i := range int(p.NumDevices) {
		d := &p.Devices[i]
		if victim < 0 {
			victim = i
			continue
		}
		v := &p.Devices[victim]
		// Untrusted devices go before trusted ones; within a class the stalest goes first.
		if (d.TrustedAt == 0) != (v.TrustedAt == 0) {
			if d.TrustedAt == 0 {
				victim = i
			}
			continue
		}
		if d.LastSeen < v.LastSeen {
			victim = i
		}
	}
	return victim
}

// TrustDevice marks device k trusted from time at, adding it if needed, for every tenant (by 0) or for tenant
// by only. Trust for every tenant is never narrowed by a tenant's; a tenant's trust is widened by trust for every
// tenant, and replaced by another tenant's later one: a device holds one mark, and losing it costs a second
// factor, never a wrong allow.
func (p *Profile) TrustDevice(k uint64, at int64, by uint32) {
	d := &p.Devices[p.SeeDevice(k, at)]
	switch {
	case d.TrustedAt == 0, by == 0 && d.TrustedBy != 0:
		d.TrustedAt, d.TrustedBy = at, by
	case by == d.TrustedBy:
		d.TrustedAt = min(d.TrustedAt, at)
	case d.TrustedBy != 0 && at >= d.TrustedAt:
		d.TrustedAt, d.TrustedBy = at, by
	}
}

// ForgetDevice removes device k from the profile.
func (p *Profile) ForgetDevice(k uint64) {
	i := p.Device(k)
	if i < 0 {
		return
	}
	n := int(p.NumDevices) - 1
	p.Devices[i] = p.Devices[n]
	p.Devices[n] = Device{}
	p.NumDevices--
}

// Country returns the index of country code c, or -1.
func (p *Profile) Country(c [2]byte) int {
	for i := range int(p.NumCountries) {
		if p.Countries[i].Code == c {
			return i
		}
	}
	return -1
}

// SeeCountry records a login from country c at time at.
func (p *Profile) SeeCountry(c [2]byte, at int64) {
	i := p.Country(c)
	if i < 0 {
		i = int(p.NumCountries)
		if i == MaxCountries {
			i = 0
			for j := 1; j < MaxCountries; j++ {
				if p.Countries[j].LastSeen < p.Countries[i].LastSeen {
					i = j
				}
			}
		} else {
			p.NumCountries++
		}
		p.Countries[i] = Country{Code: c}
	}
	co := &p.Countries[i]
	co.LastSeen = max(co.LastSeen, at)
	co.Logins++
}

// OpKind is what a ProfileOp does to a profile.
type OpKind uint8

// Profile operations. Each backend applies the same op with Profile.Apply, so embedded and Redis state learn
// alike; what an event means (which events are confirmed logins) is decided by package features.
const (
	// OpLogin records a confirmed login: counts it, sees its device and country, and moves the last login
	// forward (never back: an import or a late outcome must not move the user back in time).
	OpLogin OpKind = iota + 1
	// OpTrust is OpLogin after a passed MFA: the device also becomes trusted.
	OpTrust
	// OpForgetDevice removes the device (it was in an attacker's hands). It never creates a profile.
	OpForgetDevice
	// OpSetMFA stores the MFA preference.
	OpSetMFA
	// OpTrustDevice trusts the device of a login the profile has learned already (a passed MFA reported after
	// its login): nothing is counted again. It never creates a profile.
	OpTrustDevice
	// OpPurchase learns a completed purchase of Amount (reporting currency) into the Spend.
	OpPurchase
	// OpSequence records a sensitive change (Seq) made at At, from a device new to the user or not. It never
	// creates a profile: a change requested for an unknown user must not grow the profile table.
	OpSequence
)

// ProfileOp is one change to a user's profile, as a value: it can be queued, sent to another process and
// replayed, unlike a closure.
type ProfileOp struct {
	Kind      OpKind
	MFA       uint8 // OpSetMFA
	HasDevice bool
	Device    uint64
	At        int64 // event time, unix seconds
	Place     Place // OpLogin, OpTrust: where the login happened; a zero Country means unknown
	// OpLogin, OpTrust: the login's habits for the History; zero means unknown and teaches nothing.
	Network uint32 // keyed hash of the address's /24 (IPv4) or /64 (IPv6)
	Agent   uint32 // hash of the user agent's browser family and OS
	Class   uint8  // device class, 1..DeviceClasses; meaning defined by package features
	// OpTrust, OpTrustDevice: the tenant the trust holds for (Device.TrustedBy); 0 = every tenant.
	TrustedBy uint32
	// OpPurchase: the amount in the reporting currency.
	Amount float64
	// OpSequence: which change, and whether its device (Device, when HasDevice) was new to the user.
	Seq       SeqKind
	NewDevice bool
}

// Creates reports whether applying op to a user with no profile creates one.
func (op *ProfileOp) Creates() bool {
	return op.Kind != OpForgetDevice && op.Kind != OpTrustDevice && op.Kind != OpSequence
}

// Apply applies op to p.
func (p *Profile) Apply(op *ProfileOp) {
	at := op.At
	switch op.Kind {
	case OpLogin, OpTrust:
		if p.Created == 0 || at < p.Created {
			p.Created = at
		}
		p.Logins++
		if op.HasDevice {
			if op.Kind == OpTrust {
				p.TrustDevice(op.Device, at, op.TrustedBy)
			} else {
				p.SeeDevice(op.Device, at)
			}
		}
		if op.Place.Country != [2]byte{} {
			p.SeeCountry(op.Place.Country, at)
		}
		if at >= p.Last.At {
			p.Last = op.Place
			p.Last.At = at
		}
		p.History.see(op)
	case OpForgetDevice:
		if op.HasDevice {
			p.ForgetDevice(op.Device)
		}
	case OpTrustDevice:
		if op.HasDevice {
			p.TrustDevice(op.Device, at, op.TrustedBy)
		}
	case OpSetMFA:
		if p.Created == 0 {
			p.Created = at
		}
		p.MFAPreference = op.MFA
	case OpPurchase:
		if p.Created == 0 || at < p.Created {
			p.Created = at
		}
		p.Spend.see(op.Amount, at)
	case OpSequence:
		p.Sequences.see(op.Seq, at, op.NewDevice, op.HasDevice, op.Device)
	}
}

// Expire drops the entries last seen before cutoff (unix seconds): devices, countries, the last login place and
// the habits of the History (those kept to the day: a day that began before cutoff is gone, so nothing is held
// longer than the retention). When no behaviour is left the login count and first-seen time are forgotten too,
// so the user is new again; empty reports that nothing worth keeping remains (not even an MFA preference) and
// the profile can go.
func (p *Profile) Expire(cutoff int64) (changed, empty bool) {
	changed = p.History.expire(cutoff)
	changed = p.expireMoney(cutoff) || changed
	for i := int(p.NumDevices) - 1; i >= 0; i-- {
		if p.Devices[i].LastSeen < cutoff {
			p.ForgetDevice(p.Devices[i].Key)
			changed = true
		}
	}
	for i := int(p.NumCountries) - 1; i >= 0; i-- {
		if p.Countries[i].LastSeen < cutoff {
			n := int(p.NumCountries) - 1
			p.Countries[i] = p.Countries[n]
			p.Countries[n] = Country{}
			p.NumCountries--
			changed = true
		}
	}
	if p.Last.At != 0 && p.Last.At < cutoff {
		p.Last = Place{}
		changed = true
	}
	none := p.NumDevices == 0 && p.NumCountries == 0 && p.Last.At == 0 && p.History.Empty() &&
		p.Spend == Spend{} && p.Sequences == Sequences{}
	if none {
		// No behaviour is left: forget the count and the first sighting too, so that the user is new again.
		if p.Logins != 0 || (p.Created != 0 && p.Created < cutoff) {
			p.Logins, p.Created = 0, 0
			changed = true
		}
	}
	return changed, none && p.MFAPreference == 0
}
