package store

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// boundMax is the profile bound of these tests: 32 shards of 16, the least a shard keeps.
const boundMax = 512

func openBounded(t *testing.T, dir string, maxProfiles int, interval time.Duration) *Embedded {
	t.Helper()
	e, err := OpenEmbedded(EmbeddedConfig{Dir: dir, MaxKeys: 1 << 12, MaxProfiles: maxProfiles, FlushInterval: interval,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// held reports whether memory holds key's profile, without loading it.
func held(p *Profiles, key uint64) bool {
	s := p.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.find(key)
	return ok
}

// TestProfilesBoundHolds sprays new users at a bounded table: it never holds more than its bound, and a user in
// use all along stays.
func TestProfilesBoundHolds(t *testing.T) {
	ps := NewBoundedProfiles(1000)
	const hot = 0xfeed
	ps.Apply(hot, ProfileOp{Kind: OpLogin, At: t0, HasDevice: true, Device: 7})
	for u := range uint64(100_000) {
		ps.Apply(mix(u), ProfileOp{Kind: OpLogin, At: t0})
		if !ps.Get(hot, new(Profile)) {
			t.Fatalf("the user in use was evicted after %d new users", u)
		}
		if u%1000 == 0 {
			if n := ps.Len(); n > 1000 {
				t.Fatalf("%d profiles held, bound 1000", n)
			}
		}
	}
	if n := ps.Len(); n > 1000 || n < 900 {
		t.Fatalf("%d profiles held, bound 1000", n)
	}
}

// TestMemoryForgetsOldest: without a store, an evicted user is forgotten (looks new again); the oldest go first.
func TestMemoryForgetsOldest(t *testing.T) {
	m := NewBoundedMemory(1<<12, boundMax)
	for u := range uint64(boundMax) {
		learn(m, mix(u), 1, t0)
	}
	for u := range uint64(4 * boundMax) {
		learn(m, mix(1_000_000+u), 1, t0)
	}
	kept := 0
	for u := range uint64(boundMax) {
		var ud UserData
		if ok, _ := m.Export(mix(u), t0, &ud); ok && ud.Profile.Logins > 0 {
			kept++
		}
	}
	// Sampling keeps a few old ones by chance; far fewer than the newest, which fill the table.
	if kept > boundMax/10 {
		t.Fatalf("%d of the %d oldest users still held after %d newer ones", kept, boundMax, 4*boundMax)
	}
	if n := m.Profiles.Len(); n > boundMax {
		t.Fatalf("%d profiles held, bound %d", n, boundMax)
	}
}

// TestEmbeddedEvictedUsersComeBack: with a data dir, users evicted from memory are read back with their devices,
// before and after a restart, and the bound holds once changes are committed.
func TestEmbeddedEvictedUsersComeBack(t *testing.T) {
	dir := t.TempDir()
	e := openBounded(t, dir, boundMax, time.Hour)
	const users = 8 * boundMax
	for u := range uint64(users) {
		learn(e, mix(u), u+1000, t0)
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := e.Profiles.Len(); n > boundMax {
		t.Fatalf("%d profiles held after a commit, bound %d", n, boundMax)
	}
	check := func(e *Embedded) {
		t.Helper()
		for u := range uint64(users) {
			var ud UserData
			p := &ud.Profile
			if ok, _ := e.Export(mix(u), t0, &ud); !ok || p.Device(u+1000) < 0 || p.Devices[p.Device(u+1000)].TrustedAt != t0 {
				t.Fatalf("user %d: %v %+v", u, ok, p)
			}
		}
	}
	check(e)
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := e.Profiles.Len(); n > boundMax {
		t.Fatalf("%d profiles held after reading every user back, bound %d", n, boundMax)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openBounded(t, dir, boundMax, time.Hour)
	defer e.Close()
	if n := e.Profiles.Len(); n > boundMax || !e.Profiles.Spilled() {
		t.Fatalf("%d profiles loaded at start-up (spilled %v), bound %d", n, e.Profiles.Spilled(), boundMax)
	}
	check(e)
}

// TestEmbeddedKeepsUnflushedChanges: a profile whose change is not committed is never dropped from memory, however
// many new users push; once committed it may go, and reads back with the change.
func TestEmbeddedKeepsUnflushedChanges(t *testing.T) {
	e := openBounded(t, t.TempDir(), boundMax, time.Hour)
	defer e.Close()
	const user = 0xabc
	learn(e, user, 10, t0)
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	learn(e, user, 11, t0+60) // not committed
	for u := range uint64(8 * boundMax) {
		learn(e, mix(u), 1, t0)
	}
	var p Profile
	if !held(e.Profiles, user) || !e.Profiles.Get(user, &p) || p.Device(11) < 0 {
		t.Fatalf("the uncommitted change is lost: held %v, %+v", held(e.Profiles, user), p)
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	for u := range uint64(8 * boundMax) { // push the user out now that its change is committed
		learn(e, mix(1<<40+u), 1, t0)
		if u%boundMax == 0 {
			if err := e.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	if held(e.Profiles, user) {
		t.Fatal("the user was never evicted: the test proves nothing")
	}
	p = Profile{}
	if !e.Profiles.Get(user, &p) || p.Device(10) < 0 || p.Device(11) < 0 || p.Logins != 2 {
		t.Fatalf("read back without its change: %+v", p)
	}
}

// TestEmbeddedEraseEvicted: erasing a user held only on disk removes it from disk.
func TestEmbeddedEraseEvicted(t *testing.T) {
	dir := t.TempDir()
	e := openBounded(t, dir, boundMax, time.Hour)
	for u := range uint64(8 * boundMax) {
		learn(e, mix(u), 1, t0)
		if u%boundMax == 0 {
			if err := e.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	user := uint64(0)
	for u := range uint64(8 * boundMax) {
		if !held(e.Profiles, mix(u)) {
			user = mix(u)
			break
		}
	}
	if user == 0 {
		t.Fatal("no user was evicted")
	}
	if had, err := e.Erase(user); err != nil || !had {
		t.Fatalf("erase of a user on disk only: had %v, %v", had, err)
	}
	if ok, _ := e.Export(user, t0, new(UserData)); ok {
		t.Fatal("export after erasure found the user")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if keys := boltKeysContaining(t, filepath.Join(dir, DBFile), binary.BigEndian.AppendUint64(nil, user)); len(keys) != 0 {
		t.Fatalf("the database still holds the erased user: %x", keys)
	}
}

// TestEmbeddedExpireEvicted: retention reaches profiles held only on disk.
func TestEmbeddedExpireEvicted(t *testing.T) {
	dir := t.TempDir()
	e := openBounded(t, dir, boundMax, time.Hour)
	const old = 0x01d
	learn(e, old, 1, t0-1000)
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	for u := range uint64(8 * boundMax) {
		learn(e, mix(u), 1, t0)
		if u%boundMax == 0 {
			if err := e.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	if held(e.Profiles, old) {
		t.Skip("the old user happened to stay in memory") // sampling: rare
	}
	if _, err := e.Expire(context.Background(), t0-10); err != nil {
		t.Fatal(err)
	}
	if e.Profiles.Get(old, new(Profile)) {
		t.Fatal("an expired profile held on disk only survived retention")
	}
	if n := e.Profiles.Len(); n > boundMax {
		t.Fatalf("%d profiles held after retention, bound %d", n, boundMax)
	}
	e.Close()
	if keys := boltKeysContaining(t, filepath.Join(dir, DBFile), binary.BigEndian.AppendUint64(nil, old)); len(keys) != 0 {
		t.Fatal("the expired user is still on disk")
	}
}

// TestEmbeddedEvictionLosesNoUpdate: goroutines count logins for users that keep leaving memory and coming back,
// with the writer committing as it goes; every login is counted.
func TestEmbeddedEvictionLosesNoUpdate(t *testing.T) {
	e := openBounded(t, t.TempDir(), boundMax, 0)
	defer e.Close()
	const workers, users, rounds = 4, 300, 20
	var wg sync.WaitGroup
	for w := range uint64(workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range uint64(rounds) {
				for u := range uint64(users) {
					e.Apply(mix(w<<32|u), ProfileOp{Kind: OpLogin, At: t0})
					e.Apply(mix(1<<50|w<<40|r<<20|u), ProfileOp{Kind: OpLogin, At: t0}) // a new user each time
					if u%50 == 0 {
						e.Erase(mix(1<<50 | w<<40 | r<<20 | (u + 1)))
					}
				}
			}
		}()
	}
	wg.Wait()
	if !e.Profiles.Spilled() {
		t.Fatal("nothing was evicted: the test proves nothing")
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	for w := range uint64(workers) {
		for u := range uint64(users) {
			var p Profile
			if !e.Profiles.Get(mix(w<<32|u), &p) || p.Logins != rounds {
				t.Fatalf("user %d/%d: %d logins, want %d", w, u, p.Logins, rounds)
			}
		}
	}
	if n := e.Profiles.Len(); n > boundMax {
		t.Fatalf("%d profiles held, bound %d", n, boundMax)
	}
}
