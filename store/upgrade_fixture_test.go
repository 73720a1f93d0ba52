package store

// The upgrade fixture: state written by an earlier release, which the upgrade tests (upgrade_test.go) load with
// this one. It was written by TestWriteUpgradeFixture at commit 33a8b02 (the layout of 50a43fb), which is not
// kept here: run with this release's code it would write this release's layout. fixtureUsers users each logged in on a known device and passed MFA on a trusted one; each attempt was
// counted and added to the facts.
const (
	fixtureUsers    = 20
	fixtureKeyCheck = "upgrade-fixture"
	fixtureDir      = "testdata/upgrade-v2"
)

func fixtureUser(i uint64) uint64    { return mix(1_000 + i) }
func fixtureKnown(i uint64) uint64   { return mix(2_000 + i) }
func fixtureTrusted(i uint64) uint64 { return mix(3_000 + i) }
func fixtureIP(i uint64) uint64      { return mix(4_000 + i) }

// fixtureWrite writes the events of the fixture into s at time at.
func fixtureWrite(s State, at int64) {
	for i := range uint64(fixtureUsers) {
		u, known, trusted := fixtureUser(i), fixtureKnown(i), fixtureTrusted(i)
		place := Place{Country: [2]byte{'S', 'E'}, Lat: 59.3, Lon: 18, HasLocation: true, At: at - 3600}
		var r Reading
		for _, dev := range []uint64{known, trusted} {
			s.Observe(Subjects{User: u, HasUser: true, IP: fixtureIP(i), HasIP: true, Device: dev, HasDevice: true,
				Subnet: fixtureIP(i) >> 8, HasSubnet: true, ASN: 3301, HasASN: true, Country: [2]byte{'S', 'E'}, UA: 0x5eed},
				at-3600, SetOf(Attempts), &r)
		}
		s.Apply(u, ProfileOp{Kind: OpLogin, At: at - 3600, Device: known, HasDevice: true, Place: place, Network: 7, Agent: 0x5eed, Class: 1})
		s.Apply(u, ProfileOp{Kind: OpTrust, At: at - 1800, Device: trusted, HasDevice: true, Place: place, Network: 7, Agent: 0x5eed, Class: 1})
		s.Count(Subjects{User: u, HasUser: true, IP: fixtureIP(i), HasIP: true}, SetOf(Successes), at-1800)
	}
}

// redisFixtureKey is one Redis key of the fixture: its name and its value (base64).
type redisFixtureKey struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type redisFixture struct {
	At   int64             `json:"at"` // the event time the fixture was written at
	Keys []redisFixtureKey `json:"keys"`
}
