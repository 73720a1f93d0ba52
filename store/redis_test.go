package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/store/storetest"
)

// openRedis opens an instance that reads every subject at every decision (Fresh < 0) and writes what it counted
// at once: a test that takes turns between instances then needs only to settle the one that counted.
func openRedis(t *testing.T, addr, check string) *Redis {
	t.Helper()
	r, err := OpenRedis(RedisConfig{Addrs: []string{addr}, Timeout: time.Second, MaxKeys: 1 << 12, KeyCheck: []byte(check),
		Fresh: -1, FlushEvery: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// settle waits until every write r queued is in Redis.
func settle(t *testing.T, r *Redis) {
	t.Helper()
	if err := r.barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestRedisCountsAcrossInstancesAsOne: two instances taking turns read what both counted, once each has
// written it.
func TestRedisCountsAcrossInstancesAsOne(t *testing.T) {
	srv := storetest.StartRedis(t)
	a, b := openRedis(t, srv.Addr, "k"), openRedis(t, srv.Addr, "k")
	now := time.Now().Unix()
	s := Subjects{IP: 7, HasIP: true}
	var r Reading
	for i := range 30 {
		inst := a
		if i%2 == 1 {
			inst = b
		}
		inst.Observe(s, now, SetOf(Attempts, Failures), &r)
		if got := r.IP[Failures][Minute]; got != uint32(i) {
			t.Fatalf("attempt %d read %d failures, want %d: instances must count as one", i, got, i)
		}
		settle(t, inst)
	}
	if a.Health() != nil || b.Health() != nil {
		t.Fatalf("health: %v %v", a.Health(), b.Health())
	}
}

func TestRedisProfilesShared(t *testing.T) {
	srv := storetest.StartRedis(t)
	a, b := openRedis(t, srv.Addr, "k"), openRedis(t, srv.Addr, "k")
	now := time.Now().Unix()
	learn(a, 1, 10, now)
	settle(t, a)
	var r Reading
	b.Observe(Subjects{User: 1, HasUser: true}, now, 0, &r)
	if !r.HasProfile || r.Profile.Device(10) < 0 || r.Profile.Devices[r.Profile.Device(10)].TrustedAt != now {
		t.Fatalf("b does not see a's trusted device: %+v", r.Profile)
	}
	if r.User[Successes][Minute] != 1 {
		t.Fatalf("b does not see a's success: %v", r.User)
	}
	// Learned at once on two instances: compare-and-set keeps both changes.
	var wg sync.WaitGroup
	for _, inst := range []*Redis{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				inst.Apply(2, ProfileOp{Kind: OpLogin, At: now, HasDevice: true, Device: uint64(i % 4)})
			}
			settle(t, inst)
		}()
	}
	wg.Wait()
	b.Observe(Subjects{User: 2, HasUser: true}, now, 0, &r)
	if r.Profile.Logins != 200 {
		t.Fatalf("%d logins after 2×100 concurrent changes, want 200", r.Profile.Logins)
	}
}

func TestRedisExportEraseLeavesNoKey(t *testing.T) {
	srv := storetest.StartRedis(t)
	a := openRedis(t, srv.Addr, "k")
	now := time.Now().Unix()
	const user = 0xabcdef0123456789
	learn(a, user, 10, now)
	learn(a, 2, 10, now)
	settle(t, a)
	var ud UserData
	p, c := &ud.Profile, &ud.Velocity
	if ok, err := a.Export(user, now, &ud); !ok || err != nil || p.NumDevices != 1 || c[Successes][Minute] != 1 {
		t.Fatalf("export: %v %v %+v %v", ok, err, p, c)
	}
	for range 2 {
		if _, err := a.Erase(user); err != nil {
			t.Fatal(err)
		}
	}
	if keys := beyondTombstone(srv.Keys(t, "*"+UserKeyHex(user)+"*")); len(keys) != 0 {
		t.Fatalf("redis still holds %v", keys)
	}
	if len(srv.Keys(t, "*"+UserKeyHex(2)+"*")) != 2 {
		t.Fatal("erasure took another user's keys")
	}
	if ok, err := a.Export(user, now, &ud); ok || err != nil {
		t.Fatalf("export after erasure: %v %v", ok, err)
	}
}

func TestRedisOutageFallsBackAndRecovers(t *testing.T) {
	srv := storetest.StartRedis(t)
	a := openRedis(t, srv.Addr, "k")
	now := time.Now().Unix()
	learn(a, 1, 10, now)
	settle(t, a)
	srv.Kill()

	s := Subjects{User: 1, HasUser: true, IP: 9, HasIP: true}
	var r Reading
	for i := range 5 {
		start := time.Now()
		a.Observe(s, now, SetOf(Attempts, Failures), &r)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("a read during the outage took %v", took)
		}
		if !r.HasProfile || r.Profile.Device(10) < 0 || r.IP[Failures][Minute] != uint32(i) {
			t.Fatalf("local fallback reading %d: profile %v, failures %d", i, r.HasProfile, r.IP[Failures][Minute])
		}
	}
	if a.Health() == nil {
		t.Fatal("healthy during the outage")
	}
	if _, err := a.Erase(1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("erasure during the outage: %v, want ErrUnavailable", err)
	}
	if _, err := a.Export(1, now, new(UserData)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("export during the outage: %v, want ErrUnavailable", err)
	}

	srv.Start(t) // empty: no persistence, no scripts
	deadline := time.Now().Add(10 * time.Second)
	for a.Health() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not recovered: %v", a.Health())
		}
		time.Sleep(20 * time.Millisecond)
	}
	settle(t, a)
	// The failures counted during the outage were replayed into Redis: another instance sees them.
	b := openRedis(t, srv.Addr, "k")
	b.Observe(Subjects{IP: 9, HasIP: true}, now, 0, &r)
	if r.IP[Failures][Minute] != 5 {
		t.Fatalf("after recovery redis holds %d failures, want the 5 of the outage", r.IP[Failures][Minute])
	}
}

func TestRedisStartsBeforeRedis(t *testing.T) {
	srv := storetest.StartRedis(t)
	srv.Kill()
	a := openRedis(t, srv.Addr, "k")
	var r Reading
	a.Observe(Subjects{IP: 1, HasIP: true}, time.Now().Unix(), SetOf(Attempts), &r)
	if a.Health() == nil {
		t.Fatal("healthy without redis")
	}
	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for a.Health() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("never connected: %v", a.Health())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRedisRefusesAnotherHashKey(t *testing.T) {
	srv := storetest.StartRedis(t)
	openRedis(t, srv.Addr, "one")
	if _, err := OpenRedis(RedisConfig{Addrs: []string{srv.Addr}, KeyCheck: []byte("two")}); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("err = %v, want ErrKeyMismatch", err)
	}
}

func TestRedisRetentionSweep(t *testing.T) {
	srv := storetest.StartRedis(t)
	a := openRedis(t, srv.Addr, "k")
	now := time.Now().Unix()
	a.Apply(1, ProfileOp{Kind: OpLogin, At: now - 7200, Device: 10, HasDevice: true})
	a.Apply(1, ProfileOp{Kind: OpLogin, At: now, Device: 11, HasDevice: true})
	a.Apply(2, ProfileOp{Kind: OpLogin, At: now - 7200, Device: 20, HasDevice: true})
	settle(t, a)
	if n, err := a.Expire(context.Background(), now-3600); err != nil || n < 2 {
		t.Fatalf("expired %d: %v", n, err)
	}
	var ud UserData
	p := &ud.Profile
	if ok, _ := a.Export(1, now, &ud); !ok || p.Device(10) >= 0 || p.Device(11) < 0 {
		t.Fatalf("user 1: %+v", p)
	}
	if ok, _ := a.Export(2, now, &ud); ok {
		t.Fatal("a profile past retention survived the sweep")
	}
	// The lock makes a second sweep right after a no-op.
	if n, err := a.Expire(context.Background(), now-3600); err != nil || n != 0 {
		t.Fatalf("second sweep: %d %v", n, err)
	}
}

func TestRedisScriptsReloadedAfterFlush(t *testing.T) {
	srv := storetest.StartRedis(t)
	a := openRedis(t, srv.Addr, "k")
	c := srv.Client(t)
	var r Reading
	now := time.Now().Unix()
	a.Observe(Subjects{IP: 3, HasIP: true}, now, SetOf(Attempts), &r)
	if err := c.Do(context.Background(), c.B().ScriptFlush().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	a.Observe(Subjects{IP: 3, HasIP: true}, now, SetOf(Attempts), &r)
	if a.Health() != nil || r.IP[Attempts][Minute] != 1 {
		t.Fatalf("after SCRIPT FLUSH: %v, %d attempts", a.Health(), r.IP[Attempts][Minute])
	}
	learn(a, 5, 50, now) // a profile change: the compare-and-set script
	settle(t, a)
	a.Observe(Subjects{User: 5, HasUser: true}, now, 0, &r)
	if a.Health() != nil || !r.HasProfile {
		t.Fatalf("profile written after SCRIPT FLUSH: %v, %v", a.Health(), r.HasProfile)
	}
}

// TestRedisVelocityMatchesMemory replays one random event stream (mostly forward, some late events, some long
// gaps) into Redis and into memory: every reading must agree.
func TestRedisVelocityMatchesMemory(t *testing.T) {
	srv := storetest.StartRedis(t)
	a := openRedis(t, srv.Addr, "k")
	m := NewMemory(0)
	rng := rand.New(rand.NewPCG(5, 6))
	at := time.Now().Unix() - 86400
	var want, got Reading
	for i := range 3000 {
		switch x := rng.IntN(100); {
		case x < 70:
			at += rng.Int64N(20)
		case x < 80:
			at += rng.Int64N(4000)
		case x < 82:
			at += rng.Int64N(40000)
		}
		ev := at
		if rng.IntN(10) == 0 {
			ev -= rng.Int64N(3000) // a late event
		}
		s := Subjects{IP: uint64(rng.IntN(3)), HasIP: true}
		ms := MetricSet(rng.IntN(8))
		m.Observe(s, ev, ms, &want)
		a.Observe(s, ev, ms, &got)
		if got.IP != want.IP {
			t.Fatalf("event %d at %+d: redis %v, memory %v", i, ev-at, got.IP, want.IP)
		}
	}
	if a.Health() != nil {
		t.Fatal(a.Health())
	}
}

// TestRedisErasureReachesOtherInstances: an instance that served a user keeps a local copy for outages; erasing
// the user through another instance removes that copy too.
func TestRedisErasureReachesOtherInstances(t *testing.T) {
	srv := storetest.StartRedis(t)
	a, b := openRedis(t, srv.Addr, "k"), openRedis(t, srv.Addr, "k")
	now := time.Now().Unix()
	learn(a, 1, 10, now)
	settle(t, a)
	var r Reading
	b.Observe(Subjects{User: 1, HasUser: true}, now, SetOf(Attempts), &r)
	if !r.HasProfile || !b.Local().Profiles.Get(1, new(Profile)) {
		t.Fatal("b keeps no local copy of the profile it read")
	}
	if _, err := a.Erase(1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.Local().Profiles.Get(1, new(Profile)) {
		if time.Now().After(deadline) {
			t.Fatal("b still holds a local copy of the erased user")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b.Local().velocity[kindUser].Len() != 0 || b.own[kindUser].Len() != 0 {
		t.Fatal("b still holds the erased user's counters")
	}
	settle(t, b)
	if keys := beyondTombstone(srv.Keys(t, "*"+UserKeyHex(1)+"*")); len(keys) != 0 {
		t.Fatalf("redis still holds %v after b dropped its copy", keys)
	}
}

// TestRedisPoisonedKeyStaysLocal: a key of the wrong type (written by hand, or by another program) fails its
// subject's reads and writes, and nothing else: Redis stays in the request path and the queue keeps moving.
func TestRedisPoisonedKeyStaysLocal(t *testing.T) {
	srv := storetest.StartRedis(t)
	a := openRedis(t, srv.Addr, "k")
	c := srv.Client(t)
	if err := c.Do(context.Background(), c.B().Set().Key(subjectKey(kindIP, 66, contribSuffix)).Value("y").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	var r Reading
	for i := range 3 {
		a.Observe(Subjects{IP: 66, HasIP: true, User: 1, HasUser: true}, now, SetOf(Attempts), &r)
		if r.IP[Attempts][Minute] != uint32(i) {
			t.Fatalf("reading %d of the poisoned address: %v", i, r.IP)
		}
	}
	a.Count(Subjects{IP: 66, HasIP: true}, SetOf(Successes), now)
	learn(a, 2, 20, now)
	settle(t, a)
	if a.Health() != nil {
		t.Fatalf("one bad key took redis out: %v", a.Health())
	}
	a.Observe(Subjects{User: 2, HasUser: true}, now, 0, &r)
	if !r.HasProfile {
		t.Fatal("writes behind the poisoned one were lost")
	}
}

// TestRedisCloseSendsAFullQueue: writes still queued at Close reach Redis, however many there are. They used to
// go as one batch under one adminTimeout, and the 65,536 a full queue holds took longer than that: every one
// was lost (an import into Redis lost thousands of profile changes on a loaded machine). Redis is paused while
// they are queued, so that the writer cannot drain them before Close.
func TestRedisCloseSendsAFullQueue(t *testing.T) {
	srv := storetest.StartRedis(t)
	reg := metrics.NewSet()
	r, err := OpenRedis(RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, KeyCheck: []byte("k"), Metrics: NewMetrics(reg),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client(t)
	ctx := context.Background()
	if err := c.Do(ctx, c.B().ClientPause().Timeout(1000).Write().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	const users = 1 << 15
	at := time.Now().Unix()
	for u := range uint64(users) {
		r.Apply(u+1, ProfileOp{Kind: OpLogin, At: at})
		r.Count(Subjects{User: u + 1, HasUser: true}, SetOf(Successes), at)
	}
	r.Close()
	if n := reg.GetOrCreateCounter("riskd_state_writes_dropped_total").Get(); n != 0 {
		t.Fatalf("%d of %d writes queued at Close were dropped", n, 2*users)
	}
	if keys := srv.Keys(t, "riskd:{u:*}:p"); len(keys) != users {
		t.Fatalf("%d profiles in Redis, want %d", len(keys), users)
	}
}
