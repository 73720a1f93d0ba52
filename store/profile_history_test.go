package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// historyOp is a login with every habit known.
func historyOp(at int64, network uint32) ProfileOp {
	return ProfileOp{Kind: OpLogin, At: at, HasDevice: true, Device: 3, Network: network, Agent: 0xa9e, Class: 2,
		Place: Place{Country: [2]byte{'S', 'E'}, CityID: 2694762, ASN: 29518}}
}

// TestRedisHistoryShared: habits learned on two instances at once all reach the shared profile, and a profile
// written in format 1 by an older riskd is read, then upgraded by the next change without losing what it held.
func TestRedisHistoryShared(t *testing.T) {
	srv := storetest.StartRedis(t)
	a, b := openRedis(t, srv.Addr, "k"), openRedis(t, srv.Addr, "k")
	now := time.Now().Unix()
	var wg sync.WaitGroup
	for i, inst := range []*Redis{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				inst.Apply(1, historyOp(now, uint32(i+1)))
			}
			settle(t, inst)
		}()
	}
	wg.Wait()
	var r Reading
	a.Observe(Subjects{User: 1, HasUser: true}, now, 0, &r)
	h := &r.Profile.History
	c1, n := h.Seen(HabitNetwork, 1)
	c2, _ := h.Seen(HabitNetwork, 2)
	if h.Logins() != 100 || n != 100 || c1 != 50 || c2 != 50 || h.Classes[1].Logins != 100 {
		t.Fatalf("history after 2×50 concurrent logins: %+v", *h)
	}

	v1 := readV1Profiles(t)[5]
	if v1.want.NumDevices == 0 {
		t.Fatal("pick a format-1 case with devices")
	}
	ctx := context.Background()
	const user = 0x0123456789abcdef
	c := srv.Client(t)
	if err := c.Do(ctx, c.B().Set().Key(subjectKey(kindUser, user, 'p')).Value(string(v1.encoded)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	b.Observe(Subjects{User: user, HasUser: true}, now, 0, &r)
	if !r.HasProfile || r.Profile != v1.want {
		t.Fatalf("format 1 in Redis read as %+v", r.Profile)
	}
	b.Apply(user, historyOp(now, 9))
	settle(t, b)
	raw, err := c.Do(ctx, c.B().Get().Key(subjectKey(kindUser, user, 'p')).Build()).AsBytes()
	if err != nil {
		t.Fatal(err)
	}
	var p Profile
	if err := DecodeProfile(raw, &p); err != nil || raw[0] != profileFormat {
		t.Fatalf("after a change: format %d, %v", raw[0], err)
	}
	// The old entries are years old: the write applied the retention to them, as to any profile.
	if p.Logins != v1.want.Logins+1 || p.Created != v1.want.Created || p.MFAPreference != v1.want.MFAPreference || p.History.Logins() != 1 {
		t.Fatalf("the upgrade lost something: %+v", p)
	}
}

func TestEmbeddedKeepsHistory(t *testing.T) {
	dir := t.TempDir()
	e := openEmbedded(t, dir, "k")
	now := time.Now().Unix()
	for i := range 5 {
		e.Apply(7, historyOp(now-int64(2*i)*86400, uint32(i+1))) // network i+1, 2i days ago
	}
	var want Profile
	e.Profiles.Get(7, &want)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openEmbedded(t, dir, "k")
	defer e.Close()
	var r Reading
	e.Observe(Subjects{User: 7, HasUser: true}, now, 0, &r)
	if r.Profile != want || r.Profile.History.Logins() != 5 {
		t.Fatalf("after a restart:\n got %+v\nwant %+v", r.Profile.History, want.History)
	}
	// Retention reaches the habits too: a cutoff 5 days back keeps the networks of 0, 2 and 4 days ago.
	if _, err := e.Expire(context.Background(), now-5*86400); err != nil {
		t.Fatal(err)
	}
	e.Observe(Subjects{User: 7, HasUser: true}, now, 0, &r)
	h := &r.Profile.History
	if c, n := h.Seen(HabitNetwork, 3); c != 1 || n != 3 || h.NumHabits[HabitNetwork] != 3 {
		t.Fatalf("networks after expiry: %+v", h.List(HabitNetwork))
	}
}
