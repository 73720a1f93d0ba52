package store

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// TestRedisFactsMatchMemory replays one random stream of attempts (mostly forward, some late events, long gaps,
// amounts, user agents, countries) into Redis, through two instances taking turns, and into memory: every
// reading, counters and facts, must agree: each instance's contributions hold what memory would of its events,
// and their merge what memory holds of all of them.
//
// Two workloads: late events among few users, devices and countries (no set overflows), and many without late
// events (sets overflow, the registers count). Both together differ by design: a late attempt by a new user to a full set
// takes the slot of the least recently seen item as of its own minute, which may be newer than it, so memory's
// set then holds an older item than the newest ones; the merge keeps the newest of both instances' sets.
func TestRedisFactsMatchMemory(t *testing.T) {
	for _, w := range []replay{{users: 8, late: true}, {users: 30}} {
		t.Run(fmt.Sprintf("users=%d,late=%v", w.users, w.late), func(t *testing.T) {
			srv := storetest.StartRedis(t)
			replayMatchesMemory(t, w, openRedis(t, srv.Addr, "k"), openRedis(t, srv.Addr, "k"))
		})
	}
}

// replay is a workload of replayMatchesMemory: its number of users, and whether some events come late.
type replay struct {
	users int
	late  bool
}

// items is how many devices and countries the workload's attempts come from: with late events no more than a
// user's sets hold.
func (w replay) items() int {
	if w.late {
		return userDeviceSlots
	}
	return 12
}

// replayMatchesMemory is TestRedisFactsMatchMemory's workload on a (standalone or cluster) Redis shared by
// two instances taking turns: a reading that fell back to an instance's local state, which saw half the
// events, would not match.
func replayMatchesMemory(t *testing.T, w replay, a, b *Redis) {
	t.Helper()
	m := NewMemory(0)
	rng := rand.New(rand.NewPCG(7, 8))
	at := time.Now().Unix() - 3*86400
	var want, got Reading
	// The user agents each device was seen with in the minute of its newest event: when two instances saw a
	// device in one minute, which of them saw it last is not in the records (minutes), and the merge may take
	// either's user agent. Every attempt has a user agent here: a device's record does not say when it last
	// saw one, so after a newest attempt without a user agent on one instance the merge takes that instance's
	// older user agent rather than a newer one seen elsewhere (merge.go).
	type lastUAs struct {
		minute int32
		uas    map[uint32]bool
	}
	seenUAs := map[uint64]*lastUAs{}
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
		if rng.IntN(10) == 0 && w.late {
			ev -= rng.Int64N(5000) // a late event
		}
		ip := uint64(rng.IntN(4))
		s := Subjects{User: mix(uint64(rng.IntN(w.users))), HasUser: rng.IntN(10) != 0, IP: mix(100 + ip), HasIP: true,
			Subnet: mix(200 + ip/2), HasSubnet: true, ASN: mix(300 + ip/3), HasASN: rng.IntN(4) != 0,
			Device: mix(400 + uint64(rng.IntN(w.items()))), HasDevice: rng.IntN(3) != 0, UA: uint32(1 + rng.IntN(3)),
			Country: [2]byte{'A' + byte(rng.IntN(w.items())), 'X'}, Amount: float64(rng.IntN(100000)) / 100, HasAmount: rng.IntN(3) == 0}
		ms := MetricSet(rng.IntN(4))
		m.Observe(s, ev, ms, &want)
		last := seenUAs[s.Device]
		inst := a
		if i%2 == 1 {
			inst = b
		}
		inst.Observe(s, ev, ms, &got)
		settle(t, inst)
		if got.Facts.DeviceUA != want.Facts.DeviceUA && s.HasDevice && last != nil && last.uas[got.Facts.DeviceUA] {
			got.Facts.DeviceUA = want.Facts.DeviceUA
		}
		// Amounts are float32 sums, which the merge adds in another order than memory did.
		for _, f := range [][2]*float64{{&got.Facts.UserAmount1h, &want.Facts.UserAmount1h}, {&got.Facts.UserAmount24h, &want.Facts.UserAmount24h}} {
			if math.Abs(*f[0]-*f[1]) <= 1e-6*max(1, math.Abs(*f[1])) {
				*f[0] = *f[1]
			}
		}
		if s.HasDevice && ms != 0 {
			switch mn := minuteOf(ev); {
			case last == nil || mn > last.minute:
				seenUAs[s.Device] = &lastUAs{mn, map[uint32]bool{s.UA: true}}
			case mn == last.minute:
				last.uas[s.UA] = true
			}
		}
		// A read at a late event's time may reach stamps a day before the first event of a record's newest hour,
		// which that event's sweep cleared: each instance's record was swept at its own events, and their merge
		// is swept as of the newest, so such a read can differ from memory's one record. Its counters cannot.
		if ev < at {
			got.Facts = want.Facts
		}
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
		settle(t, inst)
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
