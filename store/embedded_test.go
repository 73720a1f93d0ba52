package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openEmbedded(t *testing.T, dir string, check string) *Embedded {
	t.Helper()
	e, err := OpenEmbedded(EmbeddedConfig{Dir: dir, MaxKeys: 1 << 12, KeyCheck: []byte(check),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func learn(s State, user, device uint64, at int64) {
	s.Apply(user, ProfileOp{Kind: OpTrust, At: at, Device: device, HasDevice: true,
		Place: Place{Country: [2]byte{'S', 'E'}, Lat: 59.3, Lon: 18, HasLocation: true, At: at}})
	s.Count(Subjects{User: user, HasUser: true, IP: 77, HasIP: true}, SetOf(Successes), at)
}

func TestEmbeddedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := openEmbedded(t, dir, "k1")
	for u := range uint64(100) {
		learn(e, u+1, u+1000, t0)
	}
	var r Reading
	e.Observe(Subjects{IP: 99, HasIP: true}, t0, SetOf(Attempts, Failures), &r)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, SnapshotFile)); err != nil {
		t.Fatalf("no velocity snapshot after a clean stop: %v", err)
	}

	e = openEmbedded(t, dir, "k1")
	defer e.Close()
	if n := e.Profiles.Len(); n != 100 {
		t.Fatalf("%d profiles after restart, want 100", n)
	}
	var ud UserData
	p, c := &ud.Profile, &ud.Velocity
	if ok, _ := e.Export(42, t0, &ud); !ok || p.Device(1041) < 0 || p.Devices[p.Device(1041)].TrustedAt != t0 || c[Successes][Minute] != 1 {
		t.Fatalf("user 42 after restart: %+v %v", p, c)
	}
	e.Observe(Subjects{IP: 99, HasIP: true}, t0+1, 0, &r)
	if r.IP[Failures][Minute] != 1 || r.IP[Attempts][Minute] != 1 {
		t.Fatalf("velocity after restart: %v", r.IP)
	}
	if _, err := os.Stat(filepath.Join(dir, SnapshotFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the snapshot must be consumed at start-up (it would be stale after a crash): %v", err)
	}
}

// TestEmbeddedCrashImageHasSyncedProfiles copies the database file of a running store, as a crash would leave
// it: what was committed is there, the velocity snapshot is not (counters start empty after a crash).
func TestEmbeddedCrashImageHasSyncedProfiles(t *testing.T) {
	dir := t.TempDir()
	e := openEmbedded(t, dir, "")
	defer e.Close()
	learn(e, 1, 10, t0)
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	learn(e, 2, 20, t0) // not synced: may or may not be in the image
	crash := t.TempDir()
	data, err := os.ReadFile(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(crash, DBFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	c := openEmbedded(t, crash, "")
	defer c.Close()
	var p Profile
	if !c.Profiles.Get(1, &p) || p.Device(10) < 0 {
		t.Fatal("a synced profile is missing from the crash image")
	}
}

func TestEmbeddedEraseLeavesNoKey(t *testing.T) {
	dir := t.TempDir()
	e := openEmbedded(t, dir, "")
	const user = 0x1122334455667788
	learn(e, user, 5, t0)
	learn(e, 2, 5, t0)
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if _, err := e.Erase(user); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := e.Export(user, t0, new(UserData)); ok {
		t.Fatal("export after erasure found the user")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian.AppendUint64(nil, user)
	le := binary.LittleEndian.AppendUint64(nil, user)
	if keys := boltKeysContaining(t, filepath.Join(dir, DBFile), be, le); len(keys) != 0 {
		t.Fatalf("the database still holds the erased user: %x", keys)
	}
	snap, err := os.ReadFile(filepath.Join(dir, SnapshotFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(snap, le) {
		t.Fatal("the velocity snapshot still holds the erased user's counters")
	}
	if !bytes.Contains(snap, binary.LittleEndian.AppendUint64(nil, 2)) {
		t.Fatal("the velocity snapshot lost another user's counters")
	}
}

// boltKeysContaining walks every bucket (nested ones too) of a bbolt file and returns the keys containing one of
// the needles.
func boltKeysContaining(t *testing.T, path string, needles ...[]byte) [][]byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var found [][]byte
	var walk func(b *bolt.Bucket)
	walk = func(b *bolt.Bucket) {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			for _, n := range needles {
				if bytes.Contains(k, n) {
					found = append(found, bytes.Clone(k))
				}
			}
			if v == nil {
				walk(b.Bucket(k))
			}
		}
	}
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			walk(b)
			return nil
		})
	})
	return found
}

func TestEmbeddedRefusesAnotherHashKey(t *testing.T) {
	dir := t.TempDir()
	openEmbedded(t, dir, "one").Close()
	_, err := OpenEmbedded(EmbeddedConfig{Dir: dir, KeyCheck: []byte("two")})
	if !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("err = %v, want ErrKeyMismatch", err)
	}
}

func TestEmbeddedDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	e := openEmbedded(t, dir, "")
	defer e.Close()
	if _, err := OpenEmbedded(EmbeddedConfig{Dir: dir}); err == nil {
		t.Fatal("a second store opened the same data dir")
	}
}

func TestEmbeddedRetention(t *testing.T) {
	dir := t.TempDir()
	e := openEmbedded(t, dir, "")
	learn(e, 1, 10, t0)
	learn(e, 1, 11, t0+86400)
	learn(e, 2, 20, t0)
	if n, err := e.Expire(context.Background(), t0+3600); err != nil || n != 2 {
		t.Fatalf("expired %d: %v", n, err)
	}
	e.Close()
	e = openEmbedded(t, dir, "")
	defer e.Close()
	var p Profile
	if !e.Profiles.Get(1, &p) || p.Device(10) >= 0 || p.Device(11) < 0 {
		t.Fatalf("user 1 after retention: %+v", p)
	}
	if e.Profiles.Get(2, &p) {
		t.Fatal("a profile with every entry past retention survived")
	}
}

func TestEmbeddedGroupCommit(t *testing.T) {
	dir := t.TempDir()
	e, err := OpenEmbedded(EmbeddedConfig{Dir: dir, FlushInterval: 0, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	learn(e, 1, 10, t0)
	// With FlushInterval 0 the writer commits on its own, without Sync.
	for range 200 {
		if len(boltKeysInBucket(e, bucketProfiles)) == 1 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the change was not committed without a sync")
}

func boltKeysInBucket(e *Embedded, bucket []byte) [][]byte {
	var keys [][]byte
	e.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, _ []byte) error {
			keys = append(keys, bytes.Clone(k))
			return nil
		})
	})
	return keys
}
