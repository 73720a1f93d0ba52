package store

// kind is a kind of subject: what an event concerns and what state is kept about. Everything that differs
// between the kinds is declared once, in kinds; the code that handles every subject of an event loops over
// the kinds and reads its differences there, so that a new kind is one line of that table (and one field in
// Subjects and Reading, the public face of the kinds).
type kind uint8

// The kinds, in the order of their velocity tables in a snapshot and of their counters in a Redis read.
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
