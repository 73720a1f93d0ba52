package store

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// TestRedisFactsMatchMemory replays one random stream of attempts (mostly forward, some late events, long gaps,
// amounts, user agents, countries) into Redis and into memory: every reading, counters and facts, must agree,
// since the Lua script makes the changes facts.go makes and both read with the same code.
func TestRedisFactsMatchMemory(t *testing.T) {
	srv := storetest.StartRedis(t)
	replayMatchesMemory(t, openRedis(t, srv.Addr, "k"), openRedis(t, srv.Addr, "k"))
}

// replayMatchesMemory is TestRedisFactsMatchMemory's workload on a (standalone or cluster) Redis shared by
// two instances taking turns: a reading that fell back to an instance's local state, which saw half the
// events, would not match.
func replayMatchesMemory(t *testing.T, a, b *Redis) {
	t.Helper()
	m := NewMemory(0)
	rng := rand.New(rand.NewPCG(7, 8))
	at := time.Now().Unix() - 3*86400
	var want, got Reading
	for i := range 4000 {
		switch x := rng.IntN(100); {
		case x < 70:
			at += rng.Int64N(40)
		case x < 85:
			at += rng.Int64N(4000)
		case x < 87:
			at += rng.Int64N(90000)
		}
		ev := at
		if rng.IntN(10) == 0 {
			ev -= rng.Int64N(5000) // a late event
		}
		ip := uint64(rng.IntN(4))
		s := Subjects{User: mix(uint64(rng.IntN(30))), HasUser: rng.IntN(10) != 0, IP: mix(100 + ip), HasIP: true,
			Subnet: mix(200 + ip/2), HasSubnet: true, ASN: mix(300 + ip/3), HasASN: rng.IntN(4) != 0,
			Device: mix(400 + uint64(rng.IntN(12))), HasDevice: rng.IntN(3) != 0, UA: uint32(rng.IntN(3)),
			Country: [2]byte{'A' + byte(rng.IntN(12)), 'X'}, Amount: float64(rng.IntN(100000)) / 100, HasAmount: rng.IntN(3) == 0}
		ms := MetricSet(rng.IntN(4))
		m.Observe(s, ev, ms, &want)
		inst := a
		if i%2 == 1 {
			inst = b
		}
		inst.Observe(s, ev, ms, &got)
		if got.User != want.User || got.IP != want.IP || got.Device != want.Device || got.Subnet != want.Subnet ||
			got.ASN != want.ASN || got.Facts != want.Facts {
			t.Fatalf("event %d at %+d:\nredis  %+v\nmemory %+v", i, ev-at, got.Facts, want.Facts)
		}
	}
	if a.Health() != nil || b.Health() != nil {
		t.Fatal(a.Health(), b.Health())
	}
}

// TestRedisFactsShared: two instances see one set of facts, and erasing a user removes its facts key.
func TestRedisFactsShared(t *testing.T) {
	srv := storetest.StartRedis(t)
	a, b := openRedis(t, srv.Addr, "k"), openRedis(t, srv.Addr, "k")
	now := time.Now().Unix()
	var r Reading
	for i := range uint64(6) {
		inst := a
		if i%2 == 1 {
			inst = b
		}
		inst.Observe(Subjects{User: mix(i), HasUser: true, IP: 1, HasIP: true, Device: 2, HasDevice: true}, now, SetOf(Attempts), &r)
		if r.Facts.IPUsers10m != uint32(i) || r.Facts.DeviceUsers24h != uint32(i) {
			t.Fatalf("attempt %d read %+v: instances must share facts", i, r.Facts)
		}
	}
	if _, err := a.Erase(mix(0)); err != nil {
		t.Fatal(err)
	}
	if keys := beyondTombstone(srv.Keys(t, "*"+UserKeyHex(mix(0))+"*")); len(keys) != 0 {
		t.Fatalf("redis still holds %v", keys)
	}
}
