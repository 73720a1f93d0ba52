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

// The upgrade tests load state an earlier release wrote (testdata/upgrade-v2, see upgrade_fixture_test.go) and
// check that nobody looks new after a deploy: known devices stay known, trusted devices stay trusted, a device
// keeps its first sighting and a user its counters. A deploy that lost them would send every user to MFA.

// checkUpgraded reads every fixture user from s as of at and fails t for anything forgotten.
func checkUpgraded(t *testing.T, s State, at int64) {
	t.Helper()
	for i := range uint64(fixtureUsers) {
		u := fixtureUser(i)
		for _, dev := range []uint64{fixtureKnown(i), fixtureTrusted(i)} {
			var r Reading
			s.Observe(Subjects{User: u, HasUser: true, IP: fixtureIP(i), HasIP: true, Device: dev, HasDevice: true}, at, 0, &r)
			if !r.HasProfile {
				t.Fatalf("user %d: no profile after the upgrade", i)
			}
			d := r.Profile.Device(dev)
			if d < 0 {
				t.Fatalf("user %d: device %x no longer known", i, dev)
			}
			if trusted := r.Profile.Devices[d].TrustedAt != 0; trusted != (dev == fixtureTrusted(i)) {
				t.Fatalf("user %d: device %x trusted %v after the upgrade", i, dev, trusted)
			}
			if r.Facts.DeviceFirstSeen == 0 {
				t.Fatalf("user %d: device %x looks never seen after the upgrade", i, dev)
			}
			if got := r.User[Attempts][Day]; got != 2 {
				t.Fatalf("user %d: %d attempts in a day after the upgrade, want 2", i, got)
			}
			if got := r.Facts.UserDevices24h; got != 2 {
				t.Fatalf("user %d: %d devices in a day after the upgrade, want 2", i, got)
			}
			if got := r.IP[Successes][Day]; got != 1 {
				t.Fatalf("user %d: address counts %d successes in a day, want 1", i, got)
			}
		}
	}
}

func readRedisFixture(t *testing.T, dir string) redisFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "redis.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx redisFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	return fx
}

// openRedisFixture starts a redis-server holding the keys of the fixture in dir, as a release before left them,
// and opens it as this release does (closed when the test ends).
func openRedisFixture(t *testing.T, dir string) (redisFixture, *storetest.Redis, *Redis) {
	t.Helper()
	fx := readRedisFixture(t, dir)
	srv := storetest.StartRedis(t)
	c := srv.Client(t)
	for _, k := range fx.Keys {
		v, err := base64.StdEncoding.DecodeString(k.Value)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Do(context.Background(), c.B().Set().Key(k.Key).Value(string(v)).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenRedis(RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, KeyCheck: []byte(fixtureKeyCheck), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return fx, srv, r
}

func TestUpgradeKeepsDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(fixtureDir, "datadir"))); err != nil {
		t.Fatal(err)
	}
	e, err := OpenEmbedded(EmbeddedConfig{Dir: dir, KeyCheck: []byte(fixtureKeyCheck), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	checkUpgraded(t, e, readRedisFixture(t, fixtureDir).At+60)
}

// TestUpgradeKeepsRedis loads the Redis state of the two layouts before: rings and facts in two keys per subject
// (upgrade-v2), and one record per subject that a script changed (upgrade-v3). Subjects are read from the old
// keys until the background move has put them into contributions; then no old key is left, and nothing is
// lost either way.
func TestUpgradeKeepsRedis(t *testing.T) {
	for _, dir := range []string{fixtureDir, fixtureDirRecords} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			fx, srv, r := openRedisFixture(t, dir)
			checkUpgraded(t, r, fx.At+60)
			if err := r.Health(); err != nil {
				t.Fatalf("the readings were not Redis's: %v", err)
			}
			waitLayout(t, r)
			if old := srv.Keys(t, oldPattern); len(old) != 0 {
				t.Fatalf("old keys left after the move: %v", old)
			}
			// Read again by another instance, from the contributions alone: nothing was lost in the move.
			b, err := OpenRedis(RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, Fresh: -1,
				KeyCheck: []byte(fixtureKeyCheck), Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			waitLayout(t, b)
			checkUpgraded(t, b, fx.At+60)
			u, dev := fixtureUser(0), fixtureTrusted(0)
			var rd Reading
			b.Observe(Subjects{User: u, HasUser: true, Device: dev, HasDevice: true}, fx.At+120, SetOf(Attempts), &rd)
			b.Observe(Subjects{User: u, HasUser: true, Device: dev, HasDevice: true}, fx.At+120, 0, &rd)
			if rd.User[Attempts][Day] != 3 || rd.Facts.DeviceFirstSeen == 0 || rd.Facts.UserDevices24h != 2 {
				t.Fatalf("after the first event since the upgrade: %d attempts, device first seen %d, %d devices",
					rd.User[Attempts][Day], rd.Facts.DeviceFirstSeen, rd.Facts.UserDevices24h)
			}
		})
	}
}
