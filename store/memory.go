package store

import "context"

// Memory is state held in this process only: five velocity tables, four facts tables and the profiles. It is
// the state of tests and of `riskd serve` without a data directory, the core of Embedded, and Redis's fallback
// when Redis is out of reach.
type Memory struct {
	Users    *Velocity // per user id
	IPs      *Velocity // per IP address
	Devices  *Velocity // per device id
	Subnets  *Velocity // per /24 (IPv4) or /64 (IPv6)
	ASNs     *Velocity // per autonomous system
	Profiles *Profiles
	facts    factTables
}

// factTables are the facts of users, addresses, subnets and devices, each table bounded as a velocity table.
type factTables struct {
	users   *table[userFacts, *userFacts]
	ips     *table[addrFacts, *addrFacts]
	subnets *table[addrFacts, *addrFacts]
	devices *table[deviceFacts, *deviceFacts]
}

func newFactTables(maxKeys int) factTables {
	return factTables{
		users:   newTable[userFacts](maxKeys),
		ips:     newTable[addrFacts](maxKeys),
		subnets: newTable[addrFacts](maxKeys),
		devices: newTable[deviceFacts](maxKeys),
	}
}

// NewMemory returns empty state; maxKeys bounds each velocity and facts table (DefaultVelocityKeys when <= 0),
// and the profiles are bounded by DefaultProfiles.
func NewMemory(maxKeys int) *Memory { return newMemory(maxKeys, 0) }

// NewBoundedMemory is NewMemory holding at most maxProfiles profiles (DefaultProfiles when <= 0). Beyond, the
// least recently used of a sample is forgotten: that user looks new again (no devices, no countries), which
// the rules treat as they treat any new user; the bound protects the service from a spray of new users.
func NewBoundedMemory(maxKeys, maxProfiles int) *Memory { return newMemory(maxKeys, maxProfiles) }

func newMemory(maxKeys, maxProfiles int) *Memory {
	return &Memory{
		Users:    NewVelocity(maxKeys),
		IPs:      NewVelocity(maxKeys),
		Devices:  NewVelocity(maxKeys),
		Subnets:  NewVelocity(maxKeys),
		ASNs:     NewVelocity(maxKeys),
		Profiles: NewBoundedProfiles(maxProfiles),
		facts:    newFactTables(maxKeys),
	}
}

// Observe implements State.
func (m *Memory) Observe(s Subjects, at int64, count MetricSet, out *Reading) {
	m.prefetch(&s)
	readAdd(m.Users, s.HasUser, s.User, at, &out.User, count)
	readAdd(m.IPs, s.HasIP, s.IP, at, &out.IP, count)
	readAdd(m.Devices, s.HasDevice, s.Device, at, &out.Device, count)
	readAdd(m.Subnets, s.HasSubnet, s.Subnet, at, &out.Subnet, count)
	readAdd(m.ASNs, s.HasASN, s.ASN, at, &out.ASN, count)
	m.facts.observe(&s, at, count != 0, &out.Facts)
	out.HasProfile = s.HasUser && m.Profiles.Get(s.User, &out.Profile)
	if !out.HasProfile {
		out.Profile = Profile{}
	}
}

// prefetcher is a table a decision prefetches from: prefetchIndex starts loading key's index entry into the
// CPU's caches, prefetchRecord, called after it, the record the entry points at. Neither waits for memory.
type prefetcher interface {
	prefetchIndex(key uint64)
	prefetchRecord(key uint64)
}

// prefetch starts loading every record of the subjects before any is read: first the index entries of all the
// subjects' records, then the records they point at. The cache misses of a dozen records scattered over the
// tables then overlap, in two rounds, and the reads that follow find them in the caches.
func (m *Memory) prefetch(s *Subjects) {
	tables := [...]struct {
		t   prefetcher
		has bool
		key uint64
	}{
		{m.Users, s.HasUser, s.User}, {m.facts.users, s.HasUser, s.User}, {m.Profiles, s.HasUser, s.User},
		{m.IPs, s.HasIP, s.IP}, {m.facts.ips, s.HasIP, s.IP},
		{m.Subnets, s.HasSubnet, s.Subnet}, {m.facts.subnets, s.HasSubnet, s.Subnet},
		{m.Devices, s.HasDevice, s.Device}, {m.facts.devices, s.HasDevice, s.Device},
		{m.ASNs, s.HasASN, s.ASN},
	}
	for _, t := range tables {
		if t.has {
			t.t.prefetchIndex(t.key)
		}
	}
	for _, t := range tables {
		if t.has {
			t.t.prefetchRecord(t.key)
		}
	}
}

func readAdd(v *Velocity, has bool, key uint64, at int64, out *[NumMetrics]Counts, ms MetricSet) {
	if !has {
		*out = [NumMetrics]Counts{}
		return
	}
	v.ReadAdd(key, at, out, ms)
}

// observe reads the subjects' facts into out and, with add, adds the attempt to them, each subject under one
// lock acquisition. An address or subnet learns only of attempts with a user; a read of a subject never seen
// creates nothing.
func (f *factTables) observe(s *Subjects, at int64, add bool, out *Facts) {
	*out = Facts{}
	mn := minuteOf(at)
	var ix [NumWindows]int32
	if add {
		ix = bucketIndices(at)
	}
	if s.HasUser {
		sh, p, r, created := f.users.lock(s.User, add, mn, ix)
		if r != nil {
			if !created {
				r.read(at, out)
			}
			if add {
				u := userSighting(s)
				r.add(at, &u)
			}
		}
		f.users.unlock(sh, p, r)
	}
	addrs := [2]struct {
		t      *table[addrFacts, *addrFacts]
		has    bool
		key    uint64
		window []int
		out    []*uint32
	}{
		{f.ips, s.HasIP, s.IP, ipUserWindows[:], []*uint32{&out.IPUsers10m, &out.IPUsers1h, &out.IPUsers24h}},
		{f.subnets, s.HasSubnet, s.Subnet, subnetUserWindows[:], []*uint32{&out.SubnetUsers1h}},
	}
	for i := range addrs {
		a := &addrs[i]
		if !a.has {
			continue
		}
		write := add && s.HasUser
		sh, p, r, created := a.t.lock(a.key, write, mn, ix)
		if r != nil {
			if !created {
				r.read(at, a.window, a.out)
			}
			if write {
				r.add(at, s.User)
			}
		}
		a.t.unlock(sh, p, r)
	}
	if s.HasDevice {
		sh, p, r, created := f.devices.lock(s.Device, add, mn, ix)
		if r != nil {
			if !created { // a new device reads as none, not as first seen now
				r.read(at, out)
			}
			if add {
				d := deviceSighting(s)
				r.add(at, &d)
			}
		}
		f.devices.unlock(sh, p, r)
	}
}

// Windows read of addresses and subnets, in minutes.
var (
	ipUserWindows     = [3]int{tenMinutes, hourMin, dayMin}
	subnetUserWindows = [1]int{hourMin}
)

func userSighting(s *Subjects) UserSighting {
	u := UserSighting{Country: s.Country, Amount: s.Amount, HasAmount: s.HasAmount}
	if s.HasIP {
		u.IP = s.IP
	}
	if s.HasDevice {
		u.Device = s.Device
	}
	return u
}

func deviceSighting(s *Subjects) DeviceSighting {
	d := DeviceSighting{UA: s.UA}
	if s.HasUser {
		d.User = s.User
	}
	return d
}

// Count implements State.
func (m *Memory) Count(s Subjects, ms MetricSet, at int64) {
	for metric := range NumMetrics {
		if !ms.Has(metric) {
			continue
		}
		for _, t := range [...]struct {
			v   *Velocity
			has bool
			key uint64
		}{{m.Users, s.HasUser, s.User}, {m.IPs, s.HasIP, s.IP}, {m.Devices, s.HasDevice, s.Device},
			{m.Subnets, s.HasSubnet, s.Subnet}, {m.ASNs, s.HasASN, s.ASN}} {
			if t.has {
				t.v.Add(t.key, metric, at, 1)
			}
		}
	}
}

// Apply implements State.
func (m *Memory) Apply(user uint64, op ProfileOp) { m.Profiles.Apply(user, op) }

// Export implements State.
func (m *Memory) Export(user uint64, at int64, out *UserData) (bool, error) {
	out.HasProfile = m.Profiles.Get(user, &out.Profile)
	if !out.HasProfile {
		out.Profile = Profile{}
	}
	m.Users.Read(user, at, &out.Velocity)
	m.facts.exportFacts(user, at, &out.Facts)
	return out.held(), nil
}

// Erase implements State: the user's counters and facts (addresses, devices, countries and amounts it was seen
// with) and profile. Counters and facts of the user's IPs and devices are not personal to the user and age out
// on their own.
func (m *Memory) Erase(user uint64) (bool, error) {
	m.Users.Delete(user)
	m.facts.users.delete(user)
	return m.Profiles.Delete(user), nil
}

// Expire implements State.
func (m *Memory) Expire(_ context.Context, cutoff int64) (int, error) {
	return m.Profiles.Expire(cutoff), nil
}

// Health implements State: memory is always available.
func (m *Memory) Health() error { return nil }

// Close implements State: there is nothing to persist.
func (m *Memory) Close() error { return nil }
