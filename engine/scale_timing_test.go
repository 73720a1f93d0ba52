package engine_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
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
//
// Each event is written, as a server decodes a request, into one Event whose id strings alias buffers that the
// next event reuses (the server's strings alias its pooled parser's memory in the same way): the harness reads
// nothing per decision but the next index of its random order. It used to hold the population's events, 744
// bytes each (744 MB at a million users) with their id strings scattered over the heap, and read them cold: a
// dozen cache lines and a TLB miss per decision that a server does not pay, which prefetching them two decisions
// ahead did not hide (the prefetch itself waited for the page walk). User i's address is a hash of i
// (populationAddr).
func benchPopulation(b *testing.B, e *engine.Engine, users int, spray float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Now().Add(-2 * time.Hour)
	var w eventWriter
	var d engine.Decision
	for i := range users {
		ev := w.returning(i, base.UnixNano())
		if err := e.Decide(ev, &d); err != nil {
			b.Fatal(err)
		}
	}
	order := make([]int32, 1<<20)
	for i := range order {
		order[i] = int32(rng.IntN(users))
		if rng.Float64() < spray {
			order[i] = -1 - int32(i%(1<<16))
		}
	}
	// The set-up's garbage is collected before the clock starts, so that the decisions measured do not pay for a
	// collection cycle the set-up started: a server deciding in steady state allocates nothing.
	runtime.GC()
	at := base.Add(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for i := 0; b.Loop(); i++ {
		t := at.Add(time.Duration(i) * time.Microsecond).UnixNano()
		var ev *features.Event
		if j := order[i%len(order)]; j >= 0 {
			ev = w.returning(int(j), t)
		} else {
			ev = w.fresh(int(-1-j), t)
		}
		if err := e.Decide(ev, &d); err != nil {
			b.Fatal(err)
		}
	}
}

// eventWriter writes the login of a user of benchPopulation into one Event, its ids into buffers it reuses.
type eventWriter struct {
	ev           features.Event
	user, device []byte
}

// returning is the login of user i at t (unix nanoseconds), from its own address and device.
func (w *eventWriter) returning(i int, t int64) *features.Event {
	return w.write("user-", "device-", i, populationAddr(uint64(i)), t)
}

// fresh is the login at t of the i-th user never seen, from an address and a device never seen.
func (w *eventWriter) fresh(i int, t int64) *features.Event {
	return w.write("sprayed-user-", "sprayed-device-", i, populationAddr(uint64(i)|1<<40), t)
}

func (w *eventWriter) write(userPrefix, devicePrefix string, i int, ip netip.Addr, t int64) *features.Event {
	w.user = strconv.AppendInt(append(w.user[:0], userPrefix...), int64(i), 10)
	w.device = strconv.AppendInt(append(w.device[:0], devicePrefix...), int64(i), 10)
	w.ev = features.Event{Type: features.Login, UserID: unsafe.String(unsafe.SliceData(w.user), len(w.user)),
		IP: ip, DeviceID: unsafe.String(unsafe.SliceData(w.device), len(w.device)), Tenant: "default",
		Time: t, HasCredentials: true, CredentialsValid: true}
	return &w.ev
}

// populationAddr is the address of the i-th user: a hash of i made an IPv4 address whose first byte is 1-223
// (the random addresses the benchmark drew before).
func populationAddr(i uint64) netip.Addr {
	h := i * 0x9E3779B97F4A7C15
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	v := uint32(h)
	return netip.AddrFrom4([4]byte{byte(v>>24)%223 + 1, byte(v >> 16), byte(v >> 8), byte(v)})
}

// reportCPU reports the process's CPU time per operation since start, as cpu-ns/op, beside the wall time of
// ns/op: on a machine whose cores other work shares, ns/op counts the time the benchmark waited for a core, and
// cpu-ns/op does not (it counts every thread of the process, the collector's included).
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
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
