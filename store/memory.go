package store

import "context"

// Memory is state held in this process only: a velocity table per kind of subject, the facts tables and the
// profiles. It is the state of tests and of `riskd serve` without a data directory, the core of Embedded, and
// Redis's fallback when Redis is out of reach.
type Memory struct {
	velocity [numKinds]*Velocity // per kind of subject, by its key
	Profiles *Profiles
	facts    factTables
}

// factTables are the facts of the kinds of subjects that keep some, each table bounded as a velocity table.
// The records differ by what they hold: one kind keeps user records, one device records, and addrs holds
// the address records of every kind keeping them (nil for the others).
type factTables struct {
	users   *table[userFacts, *userFacts]
	addrs   [numKinds]*table[addrFacts, *addrFacts]
	devices *table[deviceFacts, *deviceFacts]
}

func newFactTables(maxKeys int) factTables {
	var f factTables
	for k := range numKinds {
		switch kinds[k].facts {
		case userRecord:
			f.users = newTable[userFacts](maxKeys, "facts")
		case addrRecord:
			f.addrs[k] = newTable[addrFacts](maxKeys, "facts")
		case deviceRecord:
			f.devices = newTable[deviceFacts](maxKeys, "facts")
		}
	}
	return f
}

// of is the facts table of kind k, nil for a kind without facts.
func (f *factTables) of(k kind) prefetcher {
	switch kinds[k].facts {
	case userRecord:
		return f.users
	case addrRecord:
		return f.addrs[k]
	case deviceRecord:
		return f.devices
	}
	return nil
}

// NewMemory returns empty state; maxKeys bounds each velocity and facts table (DefaultVelocityKeys when <= 0),
// and the profiles are bounded by DefaultProfiles.
// snapshot is the facts table of kind k as a table of a snapshot, nil for a kind without facts.
func (f *factTables) snapshot(k kind) snapshotter {
	switch kinds[k].facts {
	case userRecord:
		return snapshotOf(f.users)
	case addrRecord:
		return snapshotOf(f.addrs[k])
	case deviceRecord:
		return snapshotOf(f.devices)
	}
	return nil
}

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

// resetCounters empties the velocity and facts tables (at start, and after a snapshot failed to load part way).
func (m *Memory) resetCounters(maxKeys int) {
	for k := range numKinds {
		m.velocity[k] = NewVelocity(maxKeys)
	}
	m.facts = newFactTables(maxKeys)
}

// Observe implements State.
func (m *Memory) Observe(s Subjects, at int64, count MetricSet, out *Reading) {
	m.prefetch(&s)
	for k := range numKinds {
		c := out.counts(k)
		if key, has := s.subject(k); has {
			m.velocity[k].ReadAdd(key, at, c, count)
		} else {
			*c = [NumMetrics]Counts{}
		}
	}
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
	// A velocity and a facts table per kind, and the profiles.
	var tables [2*numKinds + 1]struct {
		t   prefetcher
		key uint64
	}
	n := 0
	for k := range numKinds {
		if key, has := s.subject(k); has {
			tables[n].t, tables[n].key = m.velocity[k], key
			n++
			if f := m.facts.of(k); f != nil {
				tables[n].t, tables[n].key = f, key
				n++
			}
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
	for k := range numKinds {
		key, has := s.subject(k)
		if !has {
			continue
		}
		switch spec := &kinds[k]; spec.facts {
		case userRecord:
			sh, p, r, created := f.users.lock(key, add, mn, ix)
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
		case addrRecord:
			write := add && s.HasUser
			t := f.addrs[k]
			sh, p, r, created := t.lock(key, write, mn, ix)
			if r != nil {
				if !created {
					outs := spec.userCounts(out)
					r.read(at, spec.userWindows, outs[:len(spec.userWindows)])
				}
				if write {
					r.add(at, s.User)
				}
			}
			t.unlock(sh, p, r)
		case deviceRecord:
			sh, p, r, created := f.devices.lock(key, add, mn, ix)
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
}

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
	for k := range numKinds {
		key, has := s.subject(k)
		if !has {
			continue
		}
		for metric := range NumMetrics {
			if ms.Has(metric) {
				m.velocity[k].Add(key, metric, at, 1)
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
	m.velocity[kindUser].Read(user, at, &out.Velocity)
	m.facts.exportFacts(user, at, &out.Facts)
	return out.held(), nil
}

// Erase implements State: the user's counters and facts (addresses, devices, countries and amounts it was seen
// with) and profile. Counters and facts of the user's IPs and devices are not personal to the user and age out
// on their own.
func (m *Memory) Erase(user uint64) (bool, error) {
	m.velocity[kindUser].Delete(user)
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
