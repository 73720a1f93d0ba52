package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// The tests below run the Redis backend against a real Redis Cluster of three masters: the same client code, with
// the cluster's nodes as seeds.

func openCluster(t *testing.T, cl *storetest.Cluster, check string) *Redis {
	t.Helper()
	r, err := OpenRedis(RedisConfig{Addrs: cl.Addrs, Timeout: time.Second, MaxKeys: 1 << 12, KeyCheck: []byte(check),
		Fresh: -1, FlushEvery: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if r.Health() != nil {
		t.Fatalf("not connected to the cluster: %v", r.Health())
	}
	return r
}

// nodeOf returns the index of the one node holding keys matching pattern, failing unless exactly one does.
func nodeOf(t *testing.T, cl *storetest.Cluster, pattern string) int {
	t.Helper()
	at := -1
	for i := range cl.Nodes {
		if len(cl.NodeKeys(t, i, pattern)) > 0 {
			if at >= 0 {
				t.Fatalf("keys %s on nodes %d and %d: a subject's keys must share a slot", pattern, at, i)
			}
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("no node holds %s", pattern)
	}
	return at
}

func TestRedisClusterCountsAcrossInstancesAsOne(t *testing.T) {
	t.Parallel() // mostly waiting for the cluster to form
	cl := storetest.StartCluster(t)
	a, b := openCluster(t, cl, "k"), openCluster(t, cl, "k")
	now := time.Now().Unix()
	// Several subjects of every kind in one decision: their keys hash to different slots, so one decision's
	// pipeline spans the nodes.
	var ss []Subjects
	for i := range uint64(12) {
		ss = append(ss, Subjects{User: 100 + i, HasUser: true, IP: 200 + i, HasIP: true, Device: 300 + i, HasDevice: true})
	}
	var r Reading
	for i := range 20 {
		for _, s := range ss {
			inst := a
			if i%2 == 1 {
				inst = b
			}
			inst.Observe(s, now, SetOf(Attempts, Failures), &r)
			if r.IP[Failures][Minute] != uint32(i) || r.User[Failures][Minute] != uint32(i) || r.Device[Attempts][Minute] != uint32(i) {
				t.Fatalf("attempt %d on %+v read ip %d, user %d, device %d: instances must count as one", i, s,
					r.IP[Failures][Minute], r.User[Failures][Minute], r.Device[Attempts][Minute])
			}
		}
		settle(t, a)
		settle(t, b)
	}
	if a.Health() != nil || b.Health() != nil {
		t.Fatalf("health: %v %v", a.Health(), b.Health())
	}
	used := map[int]bool{}
	for _, s := range ss {
		used[nodeOf(t, cl, subjectKey(kindIP, s.IP, contribSuffix))] = true
		used[nodeOf(t, cl, subjectKey(kindUser, s.User, contribSuffix))] = true
	}
	if len(used) != 3 {
		t.Fatalf("the subjects landed on %d nodes only: the test does not exercise the cluster", len(used))
	}
}

// TestRedisClusterFactsMatchMemory runs TestRedisFactsMatchMemory's workload on the cluster, where each subject
// of an event is its own script call on its own node: every reading must still agree with memory's.
func TestRedisClusterFactsMatchMemory(t *testing.T) {
	t.Parallel()
	cl := storetest.StartCluster(t)
	replayMatchesMemory(t, replay{users: 8, late: true}, openCluster(t, cl, "k"), openCluster(t, cl, "k"))
}

func TestRedisClusterProfilesShared(t *testing.T) {
	t.Parallel() // mostly waiting for the cluster to form
	cl := storetest.StartCluster(t)
	a, b := openCluster(t, cl, "k"), openCluster(t, cl, "k")
	now := time.Now().Unix()
	for u := range uint64(10) {
		learn(a, u+1, 10, now)
	}
	settle(t, a)
	var r Reading
	for u := range uint64(10) {
		b.Observe(Subjects{User: u + 1, HasUser: true}, now, 0, &r)
		if !r.HasProfile || r.Profile.Device(10) < 0 || r.Profile.Devices[r.Profile.Device(10)].TrustedAt != now {
			t.Fatalf("b does not see a's trusted device of user %d: %+v", u+1, r.Profile)
		}
		if r.User[Successes][Minute] != 1 {
			t.Fatalf("b does not see a's success of user %d: %v", u+1, r.User)
		}
	}
	// Compare-and-set on the cluster: concurrent changes on two instances, to users on every node, all kept.
	var wg sync.WaitGroup
	for _, inst := range []*Redis{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				inst.Apply(uint64(1000+i%3), ProfileOp{Kind: OpLogin, At: now, HasDevice: true, Device: uint64(i % 4)})
			}
			settle(t, inst)
		}()
	}
	wg.Wait()
	for u := range uint64(3) {
		b.Observe(Subjects{User: 1000 + u, HasUser: true}, now, 0, &r)
		if r.Profile.Logins != 200 {
			t.Fatalf("user %d: %d logins after 2×100 concurrent changes, want 200", 1000+u, r.Profile.Logins)
		}
	}
	if a.Health() != nil || b.Health() != nil {
		t.Fatalf("health: %v %v", a.Health(), b.Health())
	}
}

func TestRedisClusterExportEraseLeavesNoKey(t *testing.T) {
	t.Parallel() // mostly waiting for the cluster to form
	cl := storetest.StartCluster(t)
	a := openCluster(t, cl, "k")
	now := time.Now().Unix()
	const users = 12
	for u := range uint64(users) {
		learn(a, 0xabcdef0123456700+u, 10, now)
	}
	settle(t, a)
	used := map[int]bool{}
	for u := range uint64(users) {
		user := 0xabcdef0123456700 + u
		used[nodeOf(t, cl, "*"+UserKeyHex(user)+"*")] = true
		var ud UserData
		p, c := &ud.Profile, &ud.Velocity
		if ok, err := a.Export(user, now, &ud); !ok || err != nil || p.NumDevices != 1 || c[Successes][Minute] != 1 {
			t.Fatalf("export of %x: %v %v %+v %v", user, ok, err, p, c)
		}
		if u%2 == 1 {
			continue // erase every other user
		}
		for range 2 {
			if _, err := a.Erase(user); err != nil {
				t.Fatal(err)
			}
		}
		if keys := beyondTombstone(cl.Keys(t, "*"+UserKeyHex(user)+"*")); len(keys) != 0 {
			t.Fatalf("the cluster still holds %v", keys)
		}
		if ok, err := a.Export(user, now, &ud); ok || err != nil {
			t.Fatalf("export after erasure: %v %v", ok, err)
		}
	}
	if len(used) != 3 {
		t.Fatalf("the users landed on %d nodes only: the test does not exercise the cluster", len(used))
	}
	for u := uint64(1); u < users; u += 2 {
		if keys := cl.Keys(t, "*"+UserKeyHex(0xabcdef0123456700+u)+"*"); len(keys) != 2 {
			t.Fatalf("erasures took another user's keys: %v", keys)
		}
	}
	if a.Health() != nil {
		t.Fatal(a.Health())
	}
}

func TestRedisClusterRetentionSweep(t *testing.T) {
	t.Parallel() // mostly waiting for the cluster to form
	cl := storetest.StartCluster(t)
	a := openCluster(t, cl, "k")
	now := time.Now().Unix()
	const users = 30
	for u := range uint64(users) {
		a.Apply(u+1, ProfileOp{Kind: OpLogin, At: now - 7200, Device: 10, HasDevice: true})
		if u%2 == 0 { // half keep a recent device; the other half is all past retention
			a.Apply(u+1, ProfileOp{Kind: OpLogin, At: now, Device: 11, HasDevice: true})
		}
	}
	settle(t, a)
	perNode := make([]int, len(cl.Nodes))
	for i := range cl.Nodes {
		perNode[i] = len(cl.NodeKeys(t, i, profilePattern))
		if perNode[i] == 0 {
			t.Fatalf("node %d holds no profile (%v): the sweep would not be tested across nodes", i, perNode)
		}
	}
	if n, err := a.Expire(context.Background(), now-3600); err != nil || n < users {
		t.Fatalf("expired %d: %v (profiles per node %v)", n, err, perNode)
	}
	var ud UserData
	p := &ud.Profile
	for u := range uint64(users) {
		ok, _ := a.Export(u+1, now, &ud)
		switch {
		case u%2 == 0 && (!ok || p.Device(10) >= 0 || p.Device(11) < 0):
			t.Fatalf("user %d: %v %+v", u+1, ok, p)
		case u%2 == 1 && ok:
			t.Fatalf("user %d: a profile past retention survived the sweep", u+1)
		}
	}
	if keys := cl.Keys(t, profilePattern); len(keys) != users/2 {
		t.Fatalf("%d profiles left, want %d", len(keys), users/2)
	}
	// The lock makes a second sweep right after a no-op, whichever instance runs it.
	b := openCluster(t, cl, "k")
	if n, err := b.Expire(context.Background(), now-3600); err != nil || n != 0 {
		t.Fatalf("second sweep: %d %v", n, err)
	}
}

func TestRedisClusterErasureReachesOtherInstances(t *testing.T) {
	t.Parallel() // mostly waiting for the cluster to form
	cl := storetest.StartCluster(t)
	a, b := openCluster(t, cl, "k"), openCluster(t, cl, "k")
	now := time.Now().Unix()
	var users []uint64
	for u := range uint64(6) {
		users = append(users, u+1)
		learn(a, u+1, 10, now)
	}
	settle(t, a)
	var r Reading
	for _, u := range users {
		b.Observe(Subjects{User: u, HasUser: true}, now, SetOf(Attempts), &r)
		if !r.HasProfile || !b.Local().Profiles.Get(u, new(Profile)) {
			t.Fatalf("b keeps no local copy of user %d's profile", u)
		}
	}
	for _, u := range users {
		if _, err := a.Erase(u); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, u := range users {
		for b.Local().Profiles.Get(u, new(Profile)) {
			if time.Now().After(deadline) {
				t.Fatalf("b still holds a local copy of erased user %d", u)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if b.Local().velocity[kindUser].Len() != 0 {
		t.Fatal("b still holds the erased users' counters")
	}
}

func TestRedisClusterRefusesAnotherHashKey(t *testing.T) {
	t.Parallel() // mostly waiting for the cluster to form
	cl := storetest.StartCluster(t)
	openCluster(t, cl, "one")
	for _, seed := range cl.Addrs { // whichever node a new instance is pointed at
		_, err := OpenRedis(RedisConfig{Addrs: []string{seed}, KeyCheck: []byte("two")})
		if !errors.Is(err, ErrKeyMismatch) {
			t.Fatalf("seed %s: err = %v, want ErrKeyMismatch", seed, err)
		}
		if !strings.Contains(err.Error(), seed) {
			t.Fatalf("the error does not name the address: %v", err)
		}
	}
}
