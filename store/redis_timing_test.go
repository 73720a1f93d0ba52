package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// BenchmarkRedisObserve is a decision's round trip alone: read and count three subjects, read the profile.
func BenchmarkRedisObserve(b *testing.B) {
	srv := storetest.StartRedis(b)
	r, err := OpenRedis(RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	now := time.Now().Unix()
	var out Reading
	i := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		i++
		r.Observe(Subjects{User: i % 1000, HasUser: true, IP: i % 100, HasIP: true, Device: i % 1000, HasDevice: true}, now, SetOf(Attempts), &out)
	}
	b.StopTimer()
	if testing.Verbose() {
		c := srv.Client(b)
		info, _ := c.Do(context.Background(), c.B().Info().Section("commandstats").Build()).ToString()
		for _, l := range strings.Split(info, "\n") {
			if strings.Contains(l, "calls=") {
				fmt.Println(strings.TrimSpace(l))
			}
		}
	}
}

// TestRedisBytesPerUser measures what a user costs in Redis: its velocity ring and its profile (typical: two
// devices, two countries), keys and Redis's own overhead included.
func TestRedisBytesPerUser(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 50 000 users to redis")
	}
	const n = 50_000
	srv := storetest.StartRedis(t)
	r, err := OpenRedis(RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := srv.Client(t)
	used := func() int64 {
		info, _ := c.Do(context.Background(), c.B().Info().Section("memory").Build()).ToString()
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
				var x int64
				fmt.Sscan(v, &x)
				return x
			}
		}
		t.Fatal("no used_memory")
		return 0
	}
	before := used()
	at := time.Now().Unix()
	for u := range uint64(n) {
		r.Count(Subjects{User: mix(u), HasUser: true}, SetOf(Attempts, Successes), at)
		for _, op := range typicalOps(u, at) {
			r.Apply(mix(u), op)
		}
		if u%1000 == 999 {
			settle(t, r)
		}
	}
	settle(t, r)
	per := float64(used()-before) / n
	t.Logf("%.0f bytes of redis memory per user (velocity ring and profile)", per)
	if per > 1024 {
		t.Fatalf("%.0f bytes per user in redis", per)
	}
}
