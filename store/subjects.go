package store

import (
	"io"
	"sync"
)

// kind is a kind of subject: what an event concerns and what state is kept about. Everything that differs
// between the kinds is declared once, in kinds; the code that handles every subject of an event loops over
// the kinds and reads its differences there, so that a new kind is one line of that table (and one field in
// Subjects and Reading, the public face of the kinds).
type kind uint8

// The kinds, in the order of their tables in a snapshot and of their counters in a Redis read.
const (
	kindUser kind = iota
	kindIP
	kindDevice
	kindSubnet
	kindASN
	numKinds
)

// factsKind is which facts record a kind of subject keeps (facts.go), if any.
type factsKind uint8

const (
	noFacts      factsKind = iota
	userRecord             // userFacts: addresses, devices, countries, amounts
	addrRecord             // addrFacts: the users tried from an address or subnet
	deviceRecord           // deviceFacts: first seen, user agent, users
)

// kindSpec is one kind of subject.
type kindSpec struct {
	name string
	// tag names the kind in Redis keys: riskd:{<tag>:<key>}:<suffix> (redis_keys.go).
	tag byte
	// sinceSnapshot is the first snapshot version holding the kind's velocity table (snapshot.go).
	sinceSnapshot int
	facts         factsKind
	// factsSection is the position of the kind's facts table among a snapshot's facts tables; -1 without facts.
	factsSection int
	// userWindows are the windows (minutes) of an address record's distinct users that a reading reads, and
	// userCounts where in Facts they go, in the same order.
	userWindows []int
	userCounts  func(f *Facts) [3]*uint32
	// tombstoned: the kind's Redis keys are the user's, which an erasure's tombstone guards (redis_erasures.go).
	tombstoned bool
}

// kinds declares every kind of subject. It is never written.
var kinds = [numKinds]kindSpec{
	kindUser: {name: "user", tag: 'u', sinceSnapshot: 1, facts: userRecord, factsSection: 0, tombstoned: true},
	kindIP: {name: "ip", tag: 'i', sinceSnapshot: 1, facts: addrRecord, factsSection: 1,
		userWindows: []int{tenMinutes, hourMin, dayMin},
		userCounts:  func(f *Facts) [3]*uint32 { return [3]*uint32{&f.IPUsers10m, &f.IPUsers1h, &f.IPUsers24h} }},
	kindDevice: {name: "device", tag: 'd', sinceSnapshot: 1, facts: deviceRecord, factsSection: 3},
	kindSubnet: {name: "subnet", tag: 's', sinceSnapshot: 2, facts: addrRecord, factsSection: 2,
		userWindows: []int{hourMin},
		userCounts:  func(f *Facts) [3]*uint32 { return [3]*uint32{&f.SubnetUsers1h} }},
	kindASN: {name: "asn", tag: 'a', sinceSnapshot: 2, facts: noFacts, factsSection: -1},
}

// numFactsKinds is how many kinds keep facts: the facts tables of a snapshot.
const numFactsKinds = 4

// subject returns the key of s's subject of kind k, and whether s has one. Subjects spells the kinds out as
// fields, for its callers outside the package; this is the one place that maps them to kinds.
func (s *Subjects) subject(k kind) (uint64, bool) {
	switch k {
	case kindUser:
		return s.User, s.HasUser
	case kindIP:
		return s.IP, s.HasIP
	case kindDevice:
		return s.Device, s.HasDevice
	case kindSubnet:
		return s.Subnet, s.HasSubnet
	case kindASN:
		return s.ASN, s.HasASN
	}
	return 0, false
}

// any reports whether s has a subject of any kind.
func (s *Subjects) any() bool {
	for k := range numKinds {
		if _, has := s.subject(k); has {
			return true
		}
	}
	return false
}

// counts is where a reading holds the counters of its subject of kind k.
func (r *Reading) counts(k kind) *[NumMetrics]Counts {
	switch k {
	case kindUser:
		return &r.User
	case kindIP:
		return &r.IP
	case kindDevice:
		return &r.Device
	case kindSubnet:
		return &r.Subnet
	}
	return &r.ASN
}

// subjectRecord is everything memory keeps about one subject: its velocity rings and its facts (F: the facts
// record of its kind, ringOnly for a kind without facts), in one record that a decision finds through one index
// lookup and reads in one pass. Its bytes after the key are an instance's contribution in Redis (redis_contrib.go): the
// rings' body, then the facts' body.
type subjectRecord[F any, PF factsRecord[F]] struct {
	key uint64
	velocityRecord
	facts F
	// synced is when (unix ms, wall clock) a Redis-backed instance last made the record from the instances'
	// contributions (redis_contrib.go); 0 in memory, and never in a snapshot or in Redis. It fits the padding
	// of every kind's record stride (recordStride), so it costs memory mode nothing.
	synced int64
}

// factsRecord is what a subject's record needs of its facts F. held reports whether the facts hold anything:
// a record counted without an attempt to add (Count) holds none, as in Redis. An attempt is added only if
// the facts want it (an address learns only of attempts with a user). Subjects are passed by value: a call
// through the instantiation's dictionary would make a pointer escape.
type factsRecord[F any] interface {
	*F
	held() bool
	init(mn int32, ix [NumWindows]int32)
	wants(s Subjects) bool
	addFacts(s Subjects, at int64)
	readFacts(spec *kindSpec, at int64, out *Facts)
	appendBody(b []byte) []byte
	decodeBody(b []byte)
	merge(o *F) // fold another contribution of the same subject's facts in (merge.go)
}

func (r *subjectRecord[F, PF]) recordKey() uint64 { return r.key }
func (r *subjectRecord[F, PF]) setKey(key uint64) { r.key = key }
func (r *subjectRecord[F, PF]) lastActive() int32 { return r.head[Minute] }

// appendBody and decodeBody are the record in a snapshot: its rings, then its facts, as in Redis.
func (r *subjectRecord[F, PF]) appendBody(b []byte) []byte {
	return PF(&r.facts).appendBody(r.velocityRecord.appendBody(b))
}

func (r *subjectRecord[F, PF]) decodeBody(b []byte) {
	r.velocityRecord.decodeBody(b[:ringBodyLen])
	PF(&r.facts).decodeBody(b[ringBodyLen:])
}

// ringOnly is the facts of a kind that keeps none.
type ringOnly struct{}

func (*ringOnly) held() bool                         { return false }
func (*ringOnly) init(int32, [NumWindows]int32)      {}
func (*ringOnly) wants(Subjects) bool                { return false }
func (*ringOnly) addFacts(Subjects, int64)           {}
func (*ringOnly) readFacts(*kindSpec, int64, *Facts) {}
func (*ringOnly) appendBody(b []byte) []byte         { return b }
func (*ringOnly) decodeBody([]byte)                  {}
func (*ringOnly) merge(*ringOnly)                    {}

// subjectTable is the table of one kind of subject, whatever its record (kindTable). Memory calls it once per
// subject of a decision.
type subjectTable interface {
	prefetcher
	// observe reads key's counters as of at into counts and its facts into out, then counts one event of each
	// metric in ms and, when ms is not empty, adds the attempt to the facts: one lock, one record.
	observe(key uint64, s Subjects, at int64, ms MetricSet, counts *[NumMetrics]Counts, out *Facts)
	// record is observe without the reading: it counts the event (ms not empty) and adds it to the facts.
	record(key uint64, s Subjects, at int64, ms MetricSet)
	// count counts one event of each metric in ms (not empty) at time at.
	count(key uint64, ms MetricSet, at int64)
	// export reads key's counters into counts and spells out its facts into out (user records only).
	export(key uint64, at int64, counts *[NumMetrics]Counts, out *UserFacts)
	delete(key uint64)
	Len() int
	// writeSnapshot and readSnapshot are the table in a snapshot of this version; readRings and readFacts
	// read the velocity and facts tables of a snapshot of version 1 or 2 into it (snapshot.go).
	snapshotter
	readRings(r io.Reader) (int, error)
	readFacts(r io.Reader) (int, error)
	// The contribution layout of a Redis-backed instance (redis_contrib.go, subjects_shared.go).
	contributions
}

// kindTable is the table of a kind of subject whose facts are F.
type kindTable[F any, PF factsRecord[F]] struct {
	table[subjectRecord[F, PF], *subjectRecord[F, PF]]
	spec    *kindSpec
	merging sync.Pool // of *[2]subjectRecord[F, PF]: see mergeScratch
}

// newSubjectTable returns the empty table of kind k, bounded to maxKeys subjects (DefaultVelocityKeys when <= 0).
func newSubjectTable(k kind, maxKeys int) subjectTable {
	switch kinds[k].facts {
	case userRecord:
		return newKindTable[userFacts](k, maxKeys)
	case addrRecord:
		return newKindTable[addrFacts](k, maxKeys)
	case deviceRecord:
		return newKindTable[deviceFacts](k, maxKeys)
	}
	return newKindTable[ringOnly](k, maxKeys)
}

func newKindTable[F any, PF factsRecord[F]](k kind, maxKeys int) *kindTable[F, PF] {
	return &kindTable[F, PF]{table: makeTable[subjectRecord[F, PF]](maxKeys, 1, kinds[k].name), spec: &kinds[k]}
}

func (t *kindTable[F, PF]) observe(key uint64, s Subjects, at int64, ms MetricSet, counts *[NumMetrics]Counts, out *Facts) {
	*counts = [NumMetrics]Counts{}
	ix := bucketIndices(at)
	sh := t.shard(key)
	sh.mu.Lock()
	p, ok := sh.find(key)
	if ok {
		r := sh.rec(p)
		r.read(&ix, counts)
		if f := PF(&r.facts); f.held() {
			f.readFacts(t.spec, at, out)
		}
	}
	if ms != 0 {
		addEvent(sh, p, ok, key, s, at, ms, &ix)
	}
	sh.mu.Unlock()
}

func (t *kindTable[F, PF]) record(key uint64, s Subjects, at int64, ms MetricSet) {
	ix := bucketIndices(at)
	sh := t.shard(key)
	sh.mu.Lock()
	p, ok := sh.find(key)
	addEvent(sh, p, ok, key, s, at, ms, &ix)
	sh.mu.Unlock()
}

// addEvent counts one event of each metric in ms (not empty) in key's record at p (inserted first unless held)
// and adds the attempt to its facts. The caller holds the shard's lock.
func addEvent[F any, PF factsRecord[F]](sh *tableShard[subjectRecord[F, PF], *subjectRecord[F, PF]], p uint32, held bool, key uint64,
	s Subjects, at int64, ms MetricSet, ix *[NumWindows]int32) {
	if !held {
		p = insertAt(sh, key, ix)
	}
	r := sh.rec(p)
	r.countAll(ms, ix)
	if f := PF(&r.facts); f.wants(s) {
		if !f.held() {
			f.init(minuteOf(at), *ix)
		}
		f.addFacts(s, at)
	}
}

func (t *kindTable[F, PF]) count(key uint64, ms MetricSet, at int64) {
	ix := bucketIndices(at)
	sh := t.shard(key)
	sh.mu.Lock()
	p, ok := sh.find(key)
	if !ok {
		p = insertAt(sh, key, &ix)
	}
	sh.rec(p).countAll(ms, &ix)
	sh.mu.Unlock()
}

// countAll counts one event of each metric in ms in the buckets ix.
func (r *subjectRecord[F, PF]) countAll(ms MetricSet, ix *[NumWindows]int32) {
	for m := range NumMetrics {
		if ms.Has(m) {
			r.add(m, ix, 1)
		}
	}
}

// insertAt gives key, not held by the locked shard sh, a record whose rings start at the buckets ix, evicting
// another key from a full shard, and returns its position. It is the table's create without the calls through
// the instantiation's dictionary, on the path a spray of new keys takes.
func insertAt[F any, PF factsRecord[F]](sh *tableShard[subjectRecord[F, PF], *subjectRecord[F, PF]], key uint64, ix *[NumWindows]int32) uint32 {
	p := sh.insert(key)
	r := sh.rec(p)
	r.key, r.head = key, *ix
	return p
}

func (t *kindTable[F, PF]) export(key uint64, at int64, counts *[NumMetrics]Counts, out *UserFacts) {
	*counts, *out = [NumMetrics]Counts{}, UserFacts{}
	ix := bucketIndices(at)
	sh := t.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if r := sh.get(key); r != nil {
		r.read(&ix, counts)
		if f := PF(&r.facts); f.held() {
			if u, ok := any(f).(*userFacts); ok {
				u.export(at, out)
			}
		}
	}
}
