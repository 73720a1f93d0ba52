package control_test

import (
	"context"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/store/storetest"
)

// TestInstancesShareRedis: two instances sharing a real redis-server each list both, with the versions each
// serves; a version one commits shows in the other's heartbeat within 2 s; an instance that stops leaves the
// list at once, and one that dies (no Close) leaves it when its heartbeat expires.
func TestInstancesShareRedis(t *testing.T) {
	r := storetest.StartRedis(t)
	open := func(id string, s *served) *control.Plane {
		st, err := control.OpenRedis(control.RedisConfig{Addrs: []string{r.Addr}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := control.New(control.Config{Store: st, Documents: []control.Document{testDoc(s)}, Metrics: metrics.NewSet(),
			PollInterval: 50 * time.Millisecond, InstanceID: id, HeartbeatInterval: 200 * time.Millisecond,
			RulesVersion: func() string { return "set-" + s.get() }})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var a, b served
	pa, pb := open("node-a:1", &a), open("node-b:2", &b)
	pa.Start()
	pb.Start()
	defer pa.Close()
	ctx := context.Background()
	waitFor(t, "both instances list both", 2*time.Second, func() bool {
		la, errA := pa.Instances(ctx)
		lb, errB := pb.Instances(ctx)
		return errA == nil && errB == nil && len(la) == 2 && len(lb) == 2
	})
	put(t, pa, "one", "alice")
	waitFor(t, "the second instance's heartbeat shows version 1", 2*time.Second, func() bool {
		list, err := pa.Instances(ctx)
		if err != nil || len(list) != 2 {
			return false
		}
		nb := list[1]
		return nb.ID == "node-b:2" && nb.RulesVersion == "set-one" && nb.ControlVersions["rules"] == 1 && time.Since(nb.Seen) < 2*time.Second
	})
	list, _ := pb.Instances(ctx)
	if list[0].ID != "node-a:1" || list[0].ControlVersions["rules"] != 1 || list[0].Seen.IsZero() {
		t.Fatalf("the second instance lists %+v", list)
	}

	if err := pb.Close(); err != nil {
		t.Fatal(err)
	}
	if list, err := pa.Instances(ctx); err != nil || len(list) != 1 || list[0].ID != "node-a:1" {
		t.Fatalf("after the second instance stopped: %+v %v", list, err)
	}

	// An instance that dies without leaving: its last beat expires after the TTL.
	st, err := control.OpenRedis(control.RedisConfig{Addrs: []string{r.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Beat(ctx, control.Instance{ID: "ghost:3", Seen: time.Now()}, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if list, _ := pa.Instances(ctx); len(list) != 2 {
		t.Fatalf("the ghost's beat is not listed: %+v", list)
	}
	waitFor(t, "the ghost's beat expires", 2*time.Second, func() bool {
		list, err := pa.Instances(ctx)
		return err == nil && len(list) == 1
	})
}

// TestInstancesAloneOnBolt: a store of one process lists the instance itself, as it serves now.
func TestInstancesAloneOnBolt(t *testing.T) {
	st, err := control.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var s served
	p, err := control.New(control.Config{Store: st, Documents: []control.Document{testDoc(&s)}, Metrics: metrics.NewSet(), InstanceID: "solo:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	put(t, p, "one", "alice")
	list, err := p.Instances(context.Background())
	if err != nil || len(list) != 1 || list[0].ID != "solo:1" || list[0].RulesVersion != "one" || list[0].ControlVersions["rules"] != 1 {
		t.Fatalf("instances %+v %v", list, err)
	}
}

// TestInstancesWithinMinimalACL: the heartbeats use only commands of the README's ACL.
func TestInstancesWithinMinimalACL(t *testing.T) {
	st, denied := openWithinACL(t)
	ctx := context.Background()
	if err := st.Beat(ctx, control.Instance{ID: "a:1", Seen: time.Now(), ControlVersions: map[string]uint64{"rules": 2}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	list, err := st.Instances(ctx, time.Now())
	if err != nil || len(list) != 1 || list[0].ControlVersions["rules"] != 2 {
		t.Fatalf("instances %+v %v", list, err)
	}
	if err := st.Leave(ctx, "a:1"); err != nil {
		t.Fatal(err)
	}
	if list, err := st.Instances(ctx, time.Now()); err != nil || len(list) != 0 {
		t.Fatalf("after leaving: %+v %v", list, err)
	}
	if n := denied(); n != 0 {
		t.Fatalf("the ACL denied the heartbeats %d commands", n)
	}
}
