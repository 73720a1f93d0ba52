package engine_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/internal/prefetch"
	"github.com/riskd/riskd/rules"
)

// BenchmarkDecideScaling shows how a decision's cost grows with the size of the rule set, the number of users
// riskd tracks, and the share of events carrying never-seen keys (a spray of fresh user ids, IPs and devices).
// Each event of the measured stream is a returning user's login from one of the user's own addresses, chosen
// at random, so with many users the state is out of the CPU's caches as it is in production.
//
//	go test ./engine -run '^$' -bench DecideScaling -benchmem -benchtime 2s
func BenchmarkDecideScaling(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			set, err := rules.Compile("generated", generatedRules(n))
			if err != nil {
				b.Fatal(err)
			}
			benchPopulation(b, enginetest.New(b, nil, func(c *engine.Config) { c.Rules = set }), 1000, 0)
		})
	}
	for _, users := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			benchPopulation(b, enginetest.New(b, nil), users, 0)
		})
	}
	for _, spray := range []float64{0.1, 0.5} {
		b.Run(fmt.Sprintf("users=100000/spray=%.0f%%", 100*spray), func(b *testing.B) {
			benchPopulation(b, enginetest.New(b, nil), 100_000, spray)
		})
	}
}

// benchPopulation teaches e one login of each of users users, then measures decisions on random returning
// users, a share spray of them replaced by events whose user id, IP and device id were never seen.
func benchPopulation(b *testing.B, e *engine.Engine, users int, spray float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Now().Add(-2 * time.Hour)
	evs := make([]features.Event, users)
	var d engine.Decision
	for i := range evs {
		evs[i] = features.Event{Type: features.Login, UserID: fmt.Sprintf("user-%d", i),
			IP: randomIPv4(rng), DeviceID: fmt.Sprintf("device-%d", i), Tenant: "default",
			Time: base.UnixNano(), HasCredentials: true, CredentialsValid: true}
		ev := evs[i]
		if err := e.Decide(&ev, &d); err != nil {
			b.Fatal(err)
		}
	}
	// Fresh keys are made before the clock starts: formatting them is not riskd's cost.
	fresh := make([]features.Event, 1<<16)
	for i := range fresh {
		fresh[i] = evs[0]
		fresh[i].UserID = fmt.Sprintf("sprayed-user-%d", i)
		fresh[i].DeviceID = fmt.Sprintf("sprayed-device-%d", i)
		fresh[i].IP = randomIPv4(rng)
	}
	order := make([]int32, 1<<20)
	for i := range order {
		order[i] = int32(rng.IntN(users))
		if rng.Float64() < spray {
			order[i] = -1 - int32(i%len(fresh))
		}
	}
	// The events themselves (744 bytes each, 744 MB at a million users, and their id strings scattered over the
	// heap) are the harness's, not riskd's state: a server decodes a request into a buffer it reuses, in the
	// caches. Read cold from a table as large as the population, they would add a dozen cache misses and a TLB
	// miss to every decision that production does not pay, so each is prefetched two decisions ahead (its
	// strings one ahead, once the event is in). Only the event is; riskd's state is read as cold as before.
	event := func(i int) *features.Event {
		j := order[i%len(order)]
		if j >= 0 {
			return &evs[j]
		}
		return &fresh[-1-j]
	}
	// The set-up's garbage (a million events' strings) is collected before the clock starts, so that the
	// decisions measured do not pay for a collection cycle the set-up started: riskd's state holds no pointers
	// for a collector to scan, and a server deciding in steady state allocates nothing.
	runtime.GC()
	at := base.Add(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for i := 0; b.Loop(); i++ {
		prefetch.Lines(unsafe.Pointer(event(i+2)), unsafe.Sizeof(features.Event{}))
		next := event(i + 1)
		prefetch.Lines(unsafe.Pointer(unsafe.StringData(next.UserID)), uintptr(len(next.UserID)))
		prefetch.Lines(unsafe.Pointer(unsafe.StringData(next.DeviceID)), uintptr(len(next.DeviceID)))
		ev := *event(i)
		ev.Time = at.Add(time.Duration(i) * time.Microsecond).UnixNano()
		if err := e.Decide(&ev, &d); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU reports the process's CPU time per operation since start, as cpu-ns/op, beside the wall time of
// ns/op: on a machine whose cores other work shares, ns/op counts the time the benchmark waited for a core, and
// cpu-ns/op does not (it counts every thread of the process, the collector's included).
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

func randomIPv4(rng *rand.Rand) netip.Addr {
	v := rng.Uint32()
	return netip.AddrFrom4([4]byte{byte(v>>24)%223 + 1, byte(v >> 16), byte(v >> 8), byte(v)})
}

// generatedRules is a rule set of n rules of the shapes analysts write: a velocity threshold within a
// country, a network flag with a threshold, a list of countries.
func generatedRules(n int) []byte {
	countries := []string{"US", "GB", "DE", "FR", "SE", "CN", "BR", "IN", "JP", "NG"}
	var sb strings.Builder
	sb.WriteString("version: generated\nthresholds: {step_up: 40, deny: 80}\nrules:\n")
	for i := range n {
		c := countries[i%len(countries)]
		var when string
		switch i % 3 {
		case 0:
			when = fmt.Sprintf(`ip_attempts_1m > %d && country == "%s"`, 5+i%50, c)
		case 1:
			when = fmt.Sprintf(`(is_hosting || is_vpn) && user_failures_10m >= %d`, 1+i%10)
		default:
			when = fmt.Sprintf(`country in ["%s", "%s"] && new_device && user_logins < %d`, c, countries[(i+3)%len(countries)], 2+i%20)
		}
		fmt.Fprintf(&sb, "  - id: rule_%d\n    when: %s\n    score: %d\n", i, when, 1+i%7)
	}
	return []byte(sb.String())
}
