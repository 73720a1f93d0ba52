package store

import (
	"context"
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// TestRedisMovesOldKeysThenStopsLooking: an instance started on a Redis holding the layout before's keys moves
// every subject into its contributions in the background, deletes the old keys and sets the layout marker;
// from then on subjects are not looked for in old keys. Known devices stay known, trusted stay trusted.
func TestRedisMovesOldKeysThenStopsLooking(t *testing.T) {
	fx, srv, r := openRedisFixture(t, fixtureDirRecords)
	c := srv.Client(t)
	ctx := context.Background()
	waitLayout(t, r)
	if old := srv.Keys(t, oldPattern); len(old) != 0 {
		t.Fatalf("old keys left after the move: %v", old)
	}
	if v, _ := c.Do(ctx, c.B().Get().Key(layoutKey).Build()).ToString(); v != layoutContribs {
		t.Fatalf("layout marker %q", v)
	}
	checkUpgraded(t, r, fx.At+60)

	// An old key written now (by no release of this layout) is no longer read: the subject starts afresh.
	ring := make([]byte, ringBodyLen)
	ring[0] = 1
	u := mix(77)
	if err := c.Do(ctx, c.B().Set().Key(subjectKey(kindASN, u, 'v')).Value(string(ring)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	var rd Reading
	r.Observe(Subjects{ASN: u, HasASN: true}, fx.At+120, SetOf(Attempts), &rd)
	if n, _ := c.Do(ctx, c.B().Exists().Key(subjectKey(kindASN, u, 'v')).Build()).AsInt64(); n != 1 {
		t.Fatal("the old key was looked for and moved after the layout marker was set")
	}

	// Another instance reads the marker and does not look either.
	b, err := OpenRedis(RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, KeyCheck: []byte(fixtureKeyCheck), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitLayout(t, b)
}

// TestRedisLayoutMarkerOnFreshRedis: on a Redis without old keys the marker is set at once.
func TestRedisLayoutMarkerOnFreshRedis(t *testing.T) {
	srv := storetest.StartRedis(t)
	waitLayout(t, openRedis(t, srv.Addr, "k"))
}

func waitLayout(t *testing.T, r *Redis) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); r.probeOld.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("the instance still looks for old keys")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
