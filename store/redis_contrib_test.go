package store

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/riskd/riskd/store/storetest"
)

// openRedisFresh opens an instance with the service's defaults for Fresh and FlushEvery.
func openRedisFresh(t *testing.T, addr string) *Redis {
	t.Helper()
	r, err := OpenRedis(RedisConfig{Addrs: []string{addr}, Timeout: time.Second, MaxKeys: 1 << 12, KeyCheck: []byte("k"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// commandCalls is how many times Redis ran command name (lower case) since its statistics were reset.
func commandCalls(t *testing.T, c rueidis.Client, name string) int {
	t.Helper()
	info, err := c.Do(context.Background(), c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "cmdstat_"+name+":calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// TestRedisFreshSubjectsAreNotReadAgain: a subject read from Redis is decided on from the view until it is
// older than Fresh; then it is read again, with what other instances counted meanwhile.
func TestRedisFreshSubjectsAreNotReadAgain(t *testing.T) {
	srv := storetest.StartRedis(t)
	c := srv.Client(t)
	a, b := openRedisFresh(t, srv.Addr), openRedisFresh(t, srv.Addr)
	now := time.Now().Unix()
	s := Subjects{IP: 7, HasIP: true, ASN: 9, HasASN: true}
	var r Reading
	b.Observe(s, now, SetOf(Attempts), &r) // b reads both once
	if err := c.Do(context.Background(), c.B().ConfigResetstat().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 20 {
		a.Observe(s, now, SetOf(Attempts), &r)
	}
	settle(t, a)
	fresh := time.Since(start) < contribFresh // on a loaded machine the loop may outlast Fresh
	if got := commandCalls(t, c, "hgetall"); fresh && got != 2 {
		t.Fatalf("%d reads for 20 decisions on two subjects within Fresh, want 2", got)
	}
	// b sees a's 20 attempts once its view is older than Fresh.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.Observe(s, now, 0, &r)
		if r.IP[Attempts][Minute] == 21 && r.ASN[Attempts][Minute] == 21 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b reads %d attempts, want 21", r.IP[Attempts][Minute])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedisFreshUserKeepsItsProfile: a decision whose subjects were all read within Fresh makes no round trip,
// the profile included: it decides on the local copy, which holds what the last read found. What another
// instance learned meanwhile reaches it once the user's view is older than Fresh.
func TestRedisFreshUserKeepsItsProfile(t *testing.T) {
	srv := storetest.StartRedis(t)
	c := srv.Client(t)
	a, b := openRedisFresh(t, srv.Addr), openRedisFresh(t, srv.Addr)
	now := time.Now().Unix()
	learn(b, 1, 10, now)
	settle(t, b)
	s := Subjects{User: 1, HasUser: true}
	var r Reading
	a.Observe(s, now, SetOf(Attempts), &r)
	if !r.HasProfile || r.Profile.Device(10) < 0 {
		t.Fatalf("the first decision read profile %v %+v, want b's with device 10", r.HasProfile, r.Profile.Devices[:r.Profile.NumDevices])
	}
	if err := c.Do(context.Background(), c.B().ConfigResetstat().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 20 {
		a.Observe(s, now, 0, &r)
		if !r.HasProfile || r.Profile.Device(10) < 0 {
			t.Fatalf("a fresh user decided without its profile: %v", r.HasProfile)
		}
	}
	fresh := time.Since(start) < contribFresh // on a loaded machine the loop may outlast Fresh
	if got := commandCalls(t, c, "get") + commandCalls(t, c, "hgetall"); fresh && got != 0 {
		t.Fatalf("%d reads for 20 decisions on a user read within Fresh, want none", got)
	}
	learn(b, 1, 11, now)
	settle(t, b)
	deadline := time.Now().Add(5 * time.Second)
	for a.Observe(s, now, 0, &r); r.Profile.Device(11) < 0; a.Observe(s, now, 0, &r) {
		if time.Now().After(deadline) {
			t.Fatal("a never read the device b learned")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedisWritesCountOnce: a subject counted many times in one writer interval is written once, its hash's TTL
// pushed at its first write only, and a write sent again (a batch retried after an outage) counts nothing
// twice: it replaces the instance's field.
func TestRedisWritesCountOnce(t *testing.T) {
	srv := storetest.StartRedis(t)
	c := srv.Client(t)
	a := openRedisFresh(t, srv.Addr)
	now := time.Now().Unix()
	s := Subjects{IP: 7, HasIP: true}
	if err := c.Do(context.Background(), c.B().ConfigResetstat().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		a.Count(s, SetOf(Attempts), now)
	}
	settle(t, a)
	if got := commandCalls(t, c, "hset"); got < 1 || got > 5 {
		t.Fatalf("%d writes of one subject counted 50 times in a few writer intervals", got)
	}
	// Its TTL is pushed with the first write, and again only an hour later.
	key := subjectKey(kindIP, 7, contribSuffix)
	ttl, err := c.Do(context.Background(), c.B().Pttl().Key(key).Build()).AsInt64()
	if got := commandCalls(t, c, "pexpire"); got != 1 || err != nil || ttl < velocityTTLms-60_000 {
		t.Fatalf("%d TTL pushes, TTL %d ms (%v), want 1 and about %d", got, ttl, err, velocityTTLms)
	}
	batch := []redisWrite{{kind: writeCount, subj: s, ms: SetOf(Attempts), at: now, stamp: time.Now().UnixMilli()}}
	for range 2 {
		again := append([]redisWrite(nil), batch...)
		if err := a.writeBatch(a.conn(), again, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	b := openRedis(t, srv.Addr, "k")
	var r Reading
	b.Observe(s, now, 0, &r)
	if r.IP[Attempts][Minute] != 50 {
		t.Fatalf("another instance reads %d attempts, want 50", r.IP[Attempts][Minute])
	}
}

// TestRedisAgedFieldsAreDropped: the field of an instance that stopped counting a subject longer than its TTL
// ago is deleted by the next reader, so a busy subject's hash does not grow with every restart.
func TestRedisAgedFieldsAreDropped(t *testing.T) {
	srv := storetest.StartRedis(t)
	c := srv.Client(t)
	a := openRedis(t, srv.Addr, "k")
	now := time.Now().Unix()
	old := NewMemory(0)
	var r Reading
	old.Observe(Subjects{ASN: 9, HasASN: true}, now-2*86400, SetOf(Attempts), &r)
	body, ok := old.velocity[kindASN].appendRecord(9, nil)
	if !ok {
		t.Fatal("no record")
	}
	key := subjectKey(kindASN, 9, contribSuffix)
	ctx := context.Background()
	if err := c.Do(ctx, c.B().Hset().Key(key).FieldValue().FieldValue(fieldOf(42), string(body)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	a.Observe(Subjects{ASN: 9, HasASN: true}, now, SetOf(Attempts), &r)
	if r.ASN[Attempts][Day] != 0 {
		t.Fatalf("a contribution two days old counts %d attempts today", r.ASN[Attempts][Day])
	}
	settle(t, a)
	fields, err := c.Do(ctx, c.B().Hkeys().Key(key).Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) != 1 || fields[0] != a.field {
		t.Fatalf("fields %v, want only the reader's own", fields)
	}
}
