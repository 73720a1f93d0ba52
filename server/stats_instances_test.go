package server_test

import (
	"testing"
	"time"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/server"
	"github.com/riskd/riskd/store/storetest"
)

// startNamedInstance is startInstance with an instance id and the engine's rule set version in its heartbeat,
// as riskd serve names them.
func startNamedInstance(t *testing.T, redisAddr, id string) *testServer {
	t.Helper()
	ts := startWith(t, func(cfg *server.Config) {
		cfg.Keys = streamKeyring(t)
		eng := cfg.Engine
		shareControl(t, cfg, redisAddr, func(pc *control.Config) {
			pc.PollInterval, pc.InstanceID = 100*time.Millisecond, id
			pc.RulesVersion = func() string { return eng.Rules().Version }
		})
	})
	ts.bearer = secretReader
	return ts
}

// TestStatsListEveryInstance: two instances sharing a real redis-server each list both in /v1/stats, and a
// rule set promoted on one shows as the version both serve. (That versions apply within 2 s is
// TestControlTwoInstancesShareRedis'; here the deadline is loose, for a loaded machine running the race detector.)
func TestStatsListEveryInstance(t *testing.T) {
	r := storetest.StartRedis(t)
	a, b := startNamedInstance(t, r.Addr, "riskd-a:1"), startNamedInstance(t, r.Addr, "riskd-b:2")
	a.bearer = secretAdmin
	if status, m := a.do("PUT", "/v1/rules?note=overview", "application/yaml", ruleSet("overview-2")); status != 200 {
		t.Fatalf("PUT /v1/rules: %d %v", status, m)
	}
	a.bearer = secretReader
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, m := b.do("GET", "/v1/stats", "", nil)
		if status != 200 {
			t.Fatalf("stats: %d %v", status, m)
		}
		list, _ := m["instances"].([]any)
		both := len(list) == 2
		for i, want := range []string{"riskd-a:1", "riskd-b:2"} {
			if !both {
				break
			}
			in := list[i].(map[string]any)
			versions, _ := in["control_versions"].(map[string]any)
			both = in["id"] == want && in["rules_version"] == "overview-2" && versions["rules"] != 0.0
		}
		if both {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 10 s, the second instance lists %v", list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
