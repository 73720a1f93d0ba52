package store

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/store/storetest"
)

// TestRedisErasureIsFinal: instance b, cut off from Redis, keeps serving a user and queues its writes; instance a
// erases the user meanwhile. When b reaches Redis again and sends its queue, the user must not come back: the
// erasure left a tombstone that the scripts check, and b's writes, queued before it, are dropped and counted.
func TestRedisErasureIsFinal(t *testing.T) {
	srv := storetest.StartRedis(t)
	proxy := storetest.StartProxy(t, srv.Addr)
	a := openRedis(t, srv.Addr, "k")
	reg := metrics.NewSet()
	b, err := OpenRedis(RedisConfig{Addrs: []string{proxy.Addr}, Timeout: time.Second, MaxKeys: 1 << 12, KeyCheck: []byte("k"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	const user = 0x1234abcd
	now := time.Now().Unix()
	learn(b, user, 10, now)
	settle(t, b)

	proxy.Cut()
	var r Reading
	s := Subjects{User: user, HasUser: true, IP: 5, HasIP: true, Device: 11, HasDevice: true, Country: [2]byte{'S', 'E'}}
	b.Observe(s, now, SetOf(Attempts, Failures), &r) // fails over to local state, and queues its counts and facts
	if b.Health() == nil {
		t.Fatal("b still reaches redis through the cut proxy")
	}
	learn(b, user, 12, now) // a profile change and a count, queued
	b.Count(s, SetOf(Successes), now)

	if _, err := a.Erase(user); err != nil {
		t.Fatal(err)
	}
	userKeys := func() []string { return srv.Keys(t, "*"+UserKeyHex(user)+"*") }
	if keys := userKeys(); len(keys) != 1 || !strings.HasSuffix(keys[0], ":t") {
		t.Fatalf("after the erasure redis holds %v, want only the tombstone", keys)
	}
	// The tombstone holds the erasure's time and nothing else, for tombstoneTTL.
	c := srv.Client(t)
	ctx := context.Background()
	v, err := c.Do(ctx, c.B().Get().Key(subjectKey(kindUser, user, 't')).Build()).AsInt64()
	ttl, _ := c.Do(ctx, c.B().Pttl().Key(subjectKey(kindUser, user, 't')).Build()).AsInt64()
	if at := time.UnixMilli(v); err != nil || time.Until(at) > erasureSkew || time.Since(at) > time.Minute ||
		time.Duration(ttl)*time.Millisecond < tombstoneTTL-time.Minute {
		t.Fatalf("tombstone %d (%v), ttl %d ms", v, err, ttl)
	}

	proxy.Heal()
	deadline := time.Now().Add(10 * time.Second)
	for b.Health() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("b did not reach redis again: %v", b.Health())
		}
		time.Sleep(20 * time.Millisecond)
	}
	settle(t, b)
	if keys := userKeys(); len(keys) != 1 || !strings.HasSuffix(keys[0], ":t") {
		t.Fatalf("b's queued writes recreated the erased user: %v", keys)
	}
	var ud UserData
	if ok, err := a.Export(user, now, &ud); ok || err != nil {
		t.Fatalf("export after b's queue was sent: held %v, %v: %+v", ok, err, ud)
	}
	var out strings.Builder
	reg.WritePrometheus(&out)
	// The counts b queued were not sent: b read the erasure before its writer went on, and dropped its record of
	// the user. The profile change was refused by the tombstone, and counted.
	if !strings.Contains(out.String(), "riskd_state_erased_writes_dropped_total 1") {
		t.Fatalf("b's refused profile change is not counted:\n%s", out.String())
	}

	// The user is new afterwards: what happens after the erasure is kept.
	time.Sleep(erasureSkew)
	learn(b, user, 13, time.Now().Unix())
	settle(t, b)
	if ok, err := a.Export(user, time.Now().Unix(), &ud); !ok || err != nil || ud.Profile.NumDevices != 1 || ud.Profile.Device(13) < 0 {
		t.Fatalf("a change after the erasure: held %v, %v, %+v", ok, err, ud.Profile)
	}
}

// beyondTombstone is what keys (of a user, after an erasure) hold besides the user's tombstone, which holds only
// the erasure's time.
func beyondTombstone(keys []string) []string {
	var rest []string
	for _, k := range keys {
		if !strings.HasSuffix(k, "}:t") {
			rest = append(rest, k)
		}
	}
	return rest
}

// TestRedisDropsWritesQueuedTooLong: a write that waited in the queue longer than maxQueuedAge (an outage of a
// day) is dropped and counted, never sent: that bound is what makes tombstoneTTL long enough.
func TestRedisDropsWritesQueuedTooLong(t *testing.T) {
	srv := storetest.StartRedis(t)
	reg := metrics.NewSet()
	a, err := OpenRedis(RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, KeyCheck: []byte("k"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	now := time.Now()
	op := ProfileOp{Kind: OpLogin, At: now.Unix(), Device: 1, HasDevice: true}
	a.queue(redisWrite{kind: writeProfile, subj: Subjects{User: 1, HasUser: true}, op: op,
		stamp: now.Add(-maxQueuedAge - time.Minute).UnixMilli()})
	a.queue(redisWrite{kind: writeProfile, subj: Subjects{User: 2, HasUser: true}, op: op,
		stamp: now.Add(-maxQueuedAge + time.Minute).UnixMilli()})
	settle(t, a)
	if keys := srv.Keys(t, "*"+UserKeyHex(1)+"*"); len(keys) != 0 {
		t.Fatalf("a write queued longer than %v reached redis: %v", maxQueuedAge, keys)
	}
	if keys := srv.Keys(t, "*"+UserKeyHex(2)+"*"); len(keys) != 1 {
		t.Fatalf("a write queued less than %v did not reach redis: %v", maxQueuedAge, keys)
	}
	var out strings.Builder
	reg.WritePrometheus(&out)
	if !strings.Contains(out.String(), "riskd_state_writes_dropped_total 1") {
		t.Fatalf("the stale write is not counted:\n%s", out.String())
	}
}
