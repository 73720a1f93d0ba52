package store

import "context"

// Memory is state held in this process only: three velocity tables and the profiles. It is the state of tests
// and of `riskd serve` without a data directory, the core of Embedded, and Redis's fallback when Redis is out
// of reach.
type Memory struct {
	Users    *Velocity // per user id
	IPs      *Velocity // per IP address
	Devices  *Velocity // per device id
	Profiles *Profiles
}

// NewMemory returns empty state; maxKeys bounds each velocity table (DefaultVelocityKeys when <= 0), and the
// profiles are bounded by DefaultProfiles.
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
		Profiles: NewBoundedProfiles(maxProfiles),
	}
}

// Observe implements State.
func (m *Memory) Observe(s Subjects, at int64, count MetricSet, out *Reading) {
	readAdd(m.Users, s.HasUser, s.User, at, &out.User, count)
	readAdd(m.IPs, s.HasIP, s.IP, at, &out.IP, count)
	readAdd(m.Devices, s.HasDevice, s.Device, at, &out.Device, count)
	out.HasProfile = s.HasUser && m.Profiles.Get(s.User, &out.Profile)
	if !out.HasProfile {
		out.Profile = Profile{}
	}
}

func readAdd(v *Velocity, has bool, key uint64, at int64, out *[NumMetrics]Counts, ms MetricSet) {
	if !has {
		*out = [NumMetrics]Counts{}
		return
	}
	v.ReadAdd(key, at, out, ms)
}

// Count implements State.
func (m *Memory) Count(s Subjects, ms MetricSet, at int64) {
	for metric := range NumMetrics {
		if !ms.Has(metric) {
			continue
		}
		if s.HasUser {
			m.Users.Add(s.User, metric, at, 1)
		}
		if s.HasIP {
			m.IPs.Add(s.IP, metric, at, 1)
		}
		if s.HasDevice {
			m.Devices.Add(s.Device, metric, at, 1)
		}
	}
}

// Apply implements State.
func (m *Memory) Apply(user uint64, op ProfileOp) { m.Profiles.Apply(user, op) }

// Export implements State.
func (m *Memory) Export(user uint64, at int64, p *Profile, c *[NumMetrics]Counts) (bool, error) {
	has := m.Profiles.Get(user, p)
	if !has {
		*p = Profile{}
	}
	m.Users.Read(user, at, c)
	return has || hasCounts(c), nil
}

func hasCounts(c *[NumMetrics]Counts) bool {
	return *c != [NumMetrics]Counts{}
}

// Erase implements State. Counters of the user's IPs and devices are not personal to the user and age out on
// their own.
func (m *Memory) Erase(user uint64) (bool, error) {
	m.Users.Delete(user)
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
