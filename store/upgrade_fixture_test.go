package store

// The upgrade fixture: state written by an earlier release, which the upgrade tests (upgrade_test.go) load with
// this one. It was written by TestWriteUpgradeFixture at commit 33a8b02 (the layout of 50a43fb), which is not
// kept here: run with this release's code it would write this release's layout. fixtureUsers users each logged in on a known device and passed MFA on a trusted one; each attempt was
// counted and added to the facts.
const (
	fixtureUsers    = 20
	fixtureKeyCheck = "upgrade-fixture"
	fixtureDir      = "testdata/upgrade-v2"
	// fixtureDirRecords holds the Redis state of the same events as written by the release of one record per
	// subject (commit fce4fd2; its README says how).
	fixtureDirRecords = "testdata/upgrade-v3"
)

func fixtureUser(i uint64) uint64    { return mix(1_000 + i) }
func fixtureKnown(i uint64) uint64   { return mix(2_000 + i) }
func fixtureTrusted(i uint64) uint64 { return mix(3_000 + i) }
func fixtureIP(i uint64) uint64      { return mix(4_000 + i) }

// redisFixtureKey is one Redis key of the fixture: its name and its value (base64).
type redisFixtureKey struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type redisFixture struct {
	At   int64             `json:"at"` // the event time the fixture was written at
	Keys []redisFixtureKey `json:"keys"`
}
