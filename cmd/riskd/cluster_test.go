package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/store"
	"github.com/riskd/riskd/store/storetest"
)

// TestRedisClusterCountsAttackAsOne runs three riskd on a Redis Cluster of three masters, each given every node
// as a seed. Credential stuffing spread round-robin across them is denied at the same attempt as on a single
// riskd, the stuffed users' keys are spread over the nodes, and an erasure through one instance leaves no key
// of the user on any node.
func TestRedisClusterCountsAttackAsOne(t *testing.T) {
	const attempts = 25
	want := singleNodeStuffing(t, attempts)

	cl := storetest.StartCluster(t)
	const secret = sharedHashKey
	var nodes []*process
	for range 3 {
		nodes = append(nodes, startProcess(t, append([]string{"--redis", strings.Join(cl.Addrs, ","), "--hash-key-file", hashKeyFileFor(t, secret)}, sharedFlags...)...))
	}
	if got := stuffing(t, ipStuffer, attempts, nodes...); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("three riskd sharing a redis cluster decided differently from one:\ngot  %q\nwant %q", got, want)
	}
	for _, p := range nodes {
		if !redisUp(t, p, true) {
			t.Fatalf("riskd does not report redis up:\n%s", p.logs.String())
		}
	}
	used := map[int]bool{}
	for i := range cl.Nodes {
		if len(cl.NodeKeys(t, i, "riskd:{u:*}:c")) > 0 {
			used[i] = true
		}
	}
	if len(used) != 3 {
		t.Fatalf("the stuffed users' keys are on %d nodes: the test does not exercise the cluster", len(used))
	}

	// Erasure through one instance, of a user taught through another.
	userKey := features.NewHasher([]byte(secret)).User("ana")
	teach(t, nodes[1], "ana", "bo")
	if keys := eventuallyKeys(func() []string { return cl.Keys(t, "*"+store.UserKeyHex(userKey)+"*") }, 2); len(keys) != 2 {
		t.Fatalf("before erasure the cluster holds %v for the user, want its record and its profile", keys)
	}
	waitDevices(t, nodes[0], "ana", 2)
	erase(t, nodes[0])
	if keys := cl.Keys(t, "*"+store.UserKeyHex(userKey)+"*"); !onlyTombstone(keys) {
		t.Fatalf("the cluster still holds %v", keys)
	}
	// Exports only read: every instance sees the user gone. Then one decision (which counts, so recreates a
	// velocity key) through the instance that taught the user: a new user.
	for _, p := range nodes {
		if status, _ := p.call(t, http.MethodGet, "/v1/users/ana", ""); status != http.StatusNotFound {
			t.Fatalf("export after erasure through %s: %d", p.addr, status)
		}
	}
	afterErasure(t, nodes[1])
	if status, _ := nodes[2].call(t, http.MethodGet, "/v1/users/bo", ""); status != 200 {
		t.Fatalf("another user's export through a third instance: %d", status)
	}
	for _, p := range nodes {
		if logs := p.logs.String(); strings.Contains(logs, "redis unreachable") {
			t.Fatalf("redis was unreachable during the test:\n%s", logs)
		}
		p.stop(t)
	}
}
