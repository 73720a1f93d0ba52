package store

import "context"

// Memory is state held in this process only: a table per kind of subject, whose record holds the subject's
// velocity rings and facts, and the profiles. It is the state of tests and of `riskd serve` without a data
// directory, the core of Embedded, and Redis's fallback when Redis is out of reach.
type Memory struct {
	// velocity is the table of each kind of subject (subjects.go): its counters and its facts.
	velocity [numKinds]subjectTable
	Profiles *Profiles
}

// NewMemory returns empty state; maxKeys bounds the subjects of each kind (DefaultVelocityKeys when <= 0), and
// the profiles are bounded by DefaultProfiles.
func NewMemory(maxKeys int) *Memory { return newMemory(maxKeys, 0) }

// NewBoundedMemory is NewMemory holding at most maxProfiles profiles (DefaultProfiles when <= 0). Beyond, the
// least recently used of a sample is forgotten: that user looks new again (no devices, no countries), which
// the rules treat as they treat any new user; the bound protects the service from a spray of new users.
func NewBoundedMemory(maxKeys, maxProfiles int) *Memory { return newMemory(maxKeys, maxProfiles) }

func newMemory(maxKeys, maxProfiles int) *Memory {
	m := &Memory{Profiles: NewBoundedProfiles(maxProfiles)}
	m.resetCounters(maxKeys)
	return m
}

// resetCounters empties the subjects' tables (at start, and after a snapshot failed to load part way).
func (m *Memory) resetCounters(maxKeys int) {
	for k := range numKinds {
		m.velocity[k] = newSubjectTable(k, maxKeys)
	}
}

// Observe implements State.
func (m *Memory) Observe(s Subjects, at int64, count MetricSet, out *Reading) {
	m.prefetch(&s)
	out.Facts = Facts{}
	for k := range numKinds {
		c := out.counts(k)
		if key, has := s.subject(k); has {
			m.velocity[k].observe(key, s, at, count, c, &out.Facts)
		} else {
			*c = [NumMetrics]Counts{}
		}
	}
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
// subjects' records, then the records they point at. The cache misses of the half dozen records scattered over
// the tables then overlap, in two rounds, and the reads that follow find them in the caches.
func (m *Memory) prefetch(s *Subjects) {
	var tables [numKinds + 1]struct { // a table per kind, and the profiles
		t   prefetcher
		key uint64
	}
	n := 0
	for k := range numKinds {
		if key, has := s.subject(k); has {
			tables[n].t, tables[n].key = m.velocity[k], key
			n++
		}
	}
	if s.HasUser {
		tables[n].t, tables[n].key = m.Profiles, s.User
		n++
	}
	for _, t := range tables[:n] {
		t.t.prefetchIndex(t.key)
	}
	for _, t := range tables[:n] {
		t.t.prefetchRecord(t.key)
	}
}

// Count implements State.
func (m *Memory) Count(s Subjects, ms MetricSet, at int64) {
	if ms == 0 {
		return
	}
	for k := range numKinds {
		if key, has := s.subject(k); has {
			m.velocity[k].count(key, ms, at)
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
	m.velocity[kindUser].export(user, at, &out.Velocity, &out.Facts)
	return out.held(), nil
}

// Erase implements State: the user's record (counters, and the addresses, devices, countries and amounts it was
// seen with) and profile. The records of the user's IPs and devices are not personal to the user and age out on
// their own.
func (m *Memory) Erase(user uint64) (bool, error) {
	m.velocity[kindUser].delete(user)
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
