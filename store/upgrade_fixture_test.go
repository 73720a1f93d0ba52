package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// The upgrade fixture: state written by one release, which the upgrade test (upgrade_test.go) loads with this
// one. fixtureUsers users each logged in on a known device and passed MFA on a trusted one; each attempt was
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

// TestWriteUpgradeFixture writes the fixture with the code of this tree. It runs only when asked to
// (RISKD_WRITE_UPGRADE_FIXTURE=1): the committed fixture is what an earlier release wrote.
func TestWriteUpgradeFixture(t *testing.T) {
	if os.Getenv("RISKD_WRITE_UPGRADE_FIXTURE") != "1" {
		t.Skip("RISKD_WRITE_UPGRADE_FIXTURE=1 writes the upgrade fixture")
	}
	at := time.Now().Unix()
	dataDir := filepath.Join(fixtureDir, "datadir")
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	e, err := OpenEmbedded(EmbeddedConfig{Dir: dataDir, KeyCheck: []byte(fixtureKeyCheck), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	fixtureWrite(e, at)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	srv := storetest.StartRedis(t)
	r, err := OpenRedis(RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, KeyCheck: []byte(fixtureKeyCheck), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	fixtureWrite(r, at)
	settle(t, r)
	r.Close()
	c := srv.Client(t)
	ctx := context.Background()
	keys, err := c.Do(ctx, c.B().Keys().Pattern("*").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	fx := redisFixture{At: at}
	for _, k := range keys {
		if typ, _ := c.Do(ctx, c.B().Type().Key(k).Build()).ToString(); typ != "string" {
			continue
		}
		v, err := c.Do(ctx, c.B().Get().Key(k).Build()).AsBytes()
		if err != nil {
			t.Fatal(err)
		}
		fx.Keys = append(fx.Keys, redisFixtureKey{k, base64.StdEncoding.EncodeToString(v)})
	}
	b, err := json.MarshalIndent(fx, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fixtureDir, "redis.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("fixture at %d: %d redis keys", at, len(fx.Keys))
}
