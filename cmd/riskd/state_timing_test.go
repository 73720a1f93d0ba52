package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/store"
	"github.com/riskd/riskd/store/storetest"
)

// Decisions per second with each state backend, the whole engine (default rules, MaxMind test databases, state
// reads and writes) without HTTP, on the 2-core development machine:
//
//	go test ./cmd/riskd -run '^$' -bench DecideState -benchtime 3s
//
// See BENCHMARKS.md ("State backends") for the figures.

// stateBackends opens each backend for a benchmark.
func stateBackends(b *testing.B) []struct {
	name string
	open func() store.State
} {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return []struct {
		name string
		open func() store.State
	}{
		{"memory", func() store.State { return store.NewMemory(0) }},
		{"embedded", func() store.State {
			e, err := store.OpenEmbedded(store.EmbeddedConfig{Dir: b.TempDir(), FlushInterval: time.Second, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			return e
		}},
		{"redis", func() store.State {
			srv := storetest.StartRedis(b)
			r, err := store.OpenRedis(store.RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			return r
		}},
	}
}

// BenchmarkDecideState decides returning users' logins (valid credentials, a known device: each decision reads
// the three velocity windows and the profile, counts, and learns the login), from one goroutine per CPU and from
// 32 per CPU (which lets the Redis client pipeline).
func BenchmarkDecideState(b *testing.B) {
	const users = 10_000
	ids := make([]string, users)
	devices := make([]string, users)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%d", i)
		devices[i] = fmt.Sprintf("device-%d", i)
	}
	ip := netip.MustParseAddr("216.160.83.56")
	for _, be := range stateBackends(b) {
		for _, par := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", be.name, par*runtime.GOMAXPROCS(0)), func(b *testing.B) {
				st := be.open()
				defer st.Close()
				e := enginetest.New(b, nil, func(c *engine.Config) {
					c.Extractor = features.NewExtractor(features.NewHasher([]byte("bench")), st, c.Extractor.Geo())
				})
				var next atomic.Uint64
				b.ReportAllocs()
				b.SetParallelism(par)
				b.RunParallel(func(pb *testing.PB) {
					var d engine.Decision
					for pb.Next() {
						i := next.Add(1) % users
						ev := features.Event{Type: features.Login, UserID: ids[i], IP: ip, DeviceID: devices[i],
							HasCredentials: true, CredentialsValid: true, Tenant: "default"}
						if err := e.Decide(&ev, &d); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
				if err := st.Health(); err != nil {
					b.Fatalf("state degraded during the benchmark: %v", err)
				}
			})
		}
	}
}
