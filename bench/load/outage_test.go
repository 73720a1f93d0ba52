package main

import (
	"context"
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// TestRedisOutageSchedule crashes a real redis-server after the profile's first phase and has it answer again
// after the second.
func TestRedisOutageSchedule(t *testing.T) {
	storetest.LookPath(t, "redis-server")
	r, err := startRedis(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.stop()
	p := outageProfile(100, 900*time.Millisecond)
	if len(p.Phases) != 3 || p.Duration() != 900*time.Millisecond {
		t.Fatalf("outage profile %+v", p)
	}
	var said []string
	cancel := scheduleOutage(context.Background(), r, p, func(s string) { said = append(said, s) })
	if !ping(r.addr) {
		t.Fatal("redis-server does not answer before the outage")
	}
	waitFor(t, "the crash", 2*time.Second, func() bool { return !ping(r.addr) })
	waitFor(t, "the restart", 3*time.Second, func() bool { return ping(r.addr) })
	cancel()
	if len(said) != 2 {
		t.Fatalf("reported %q, want the crash and the restart", said)
	}
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("%s did not happen within %v", what, within)
}
