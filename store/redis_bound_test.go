package store

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// TestRedisLocalProfilesBounded: the copy of profiles an instance keeps beside Redis obeys MaxProfiles, so a
// spray of new users cannot grow an instance's memory without bound; an evicted profile is read back from Redis.
func TestRedisLocalProfilesBounded(t *testing.T) {
	srv := storetest.StartRedis(t)
	r, err := OpenRedis(RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, MaxKeys: 1 << 12, MaxProfiles: 1024,
		KeyCheck: []byte("bound"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	at := time.Now().Add(-time.Hour).Unix()
	const users = 5000
	for u := uint64(1); u <= users; u++ {
		r.Apply(u, ProfileOp{Kind: OpLogin, At: at, Device: u, HasDevice: true})
	}
	if n := r.local.Profiles.Len(); n > 1024 {
		t.Fatalf("the local copy holds %d profiles after %d users, bound 1024", n, users)
	}
	settle(t, r)
	var out Reading
	r.Observe(Subjects{User: 1, HasUser: true}, at+60, 0, &out)
	if !out.HasProfile || out.Profile.Logins != 1 || out.Profile.Device(1) < 0 {
		t.Fatalf("user 1, evicted from the local copy, read back from Redis: %+v", out.Profile)
	}
}
