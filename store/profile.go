package store

import (
	"sync"
)

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
}

// Country is one country a user has logged in from.
type Country struct {
	Code     [2]byte // ISO 3166-1 alpha-2
	LastSeen int64
	Logins   uint32
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
// with fixed-size arrays so that copying it out of the store allocates nothing.
type Profile struct {
	Created       int64 // first event time seen for this user
	Logins        uint32
	MFAPreference uint8 // stored preference; meaning defined by package features
	Devices       [MaxDevices]Device
	NumDevices    uint8
	Countries     [MaxCountries]Country
	NumCountries  uint8
	Last          Place // last successful login
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

// TrustDevice marks device k trusted from time at, adding it if needed.
func (p *Profile) TrustDevice(k uint64, at int64) {
	i := p.SeeDevice(k, at)
	if p.Devices[i].TrustedAt == 0 || at < p.Devices[i].TrustedAt {
		p.Devices[i].TrustedAt = at
	}
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

// Profiles is the in-memory table of user profiles. Safe for concurrent use.
type Profiles struct {
	shards [profileShards]profileShard
}

const profileShards = 64

type profileShard struct {
	mu sync.Mutex
	m  map[uint64]*Profile
}

// NewProfiles returns an empty table.
func NewProfiles() *Profiles {
	p := &Profiles{}
	for i := range p.shards {
		p.shards[i].m = make(map[uint64]*Profile)
	}
	return p
}

func (p *Profiles) shard(key uint64) *profileShard {
	return &p.shards[key%profileShards]
}

// Get copies the profile of key into out and reports whether one exists.
func (p *Profiles) Get(key uint64, out *Profile) bool {
	s := p.shard(key)
	s.mu.Lock()
	pr, ok := s.m[key]
	if ok {
		*out = *pr
	}
	s.mu.Unlock()
	return ok
}

// Update applies fn to the profile of key under the table's lock, creating an empty profile first when there is
// none. fn must not block: it runs with the shard locked.
func (p *Profiles) Update(key uint64, fn func(*Profile)) {
	s := p.shard(key)
	s.mu.Lock()
	pr, ok := s.m[key]
	if !ok {
		pr = new(Profile)
		s.m[key] = pr
	}
	fn(pr)
	s.mu.Unlock()
}

// Delete forgets the profile of key and reports whether there was one.
func (p *Profiles) Delete(key uint64) bool {
	s := p.shard(key)
	s.mu.Lock()
	_, ok := s.m[key]
	delete(s.m, key)
	s.mu.Unlock()
	return ok
}

// Len is the number of profiles held.
func (p *Profiles) Len() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
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
