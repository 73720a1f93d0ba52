package store

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/riskd/riskd/store/storetest"
)

// BenchmarkRedisDecisionCost is what a decision costs Redis: Observe of every kind of subject (a population of
// 50k users, 20k addresses and devices, a few ASNs) counting an attempt and adding it to the facts, as a
// decision does, the writer's batches included. It reports Redis's own accounting: cmd-us/decision, the usec
// INFO commandstats gives every command riskd sends (reads of the contributions and the profile, writes of
// this instance's records), and cpu-us/decision, the CPU time of the redis-server process (INFO cpu),
// network I/O included. On a shared machine these move with the load of the other processes.
//
// Event time advances as at 10,000 decisions a second: a user comes back every 5 s, an address or a device
// every 2 s, so rings advance and facts' sets change as in a load run, not only the busy subjects' hot path.
func BenchmarkRedisDecisionCost(b *testing.B) {
	srv := storetest.StartRedis(b)
	r, err := OpenRedis(RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	c := srv.Client(b)
	subjects := func(i uint64) Subjects {
		u := mix(i % 50_000)
		return Subjects{User: u, HasUser: true, IP: mix(1e6 + i%20_000), HasIP: true, Device: mix(2e6 + i%20_000), HasDevice: true,
			Subnet: mix(3e6 + i%5_000), HasSubnet: true, ASN: mix(4e6 + i%50), HasASN: true, Country: [2]byte{'D', 'E'}, UA: 7}
	}
	start := time.Now().Unix() - 6
	at := func(i uint64) int64 { return start + int64(i/decisionsPerSecond) }
	var out Reading
	const warm = 60_000
	for i := range uint64(warm) { // every subject exists, as in a steady state
		r.Observe(subjects(i), at(i), SetOf(Attempts), &out)
	}
	reset := func() {
		if err := c.Do(context.Background(), c.B().ConfigResetstat().Build()).Error(); err != nil {
			b.Fatal(err)
		}
	}
	reset()
	cpu0 := redisCPU(b, c)
	i := uint64(warm)
	b.ResetTimer()
	for b.Loop() {
		i++
		r.Observe(subjects(i), at(i), SetOf(Attempts), &out)
	}
	if err := r.barrier(time.Minute); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu := redisCPU(b, c) - cpu0
	n := float64(b.N)
	b.ReportMetric(commandUsec(b, c)/n, "cmd-us/decision")
	b.ReportMetric(cpu*1e6/n, "cpu-us/decision")
	if r.Health() != nil {
		b.Fatal(r.Health())
	}
}

// decisionsPerSecond is the rate BenchmarkRedisDecisionCost's event time advances at.
const decisionsPerSecond = 10_000

// redisCPU is the CPU time (s) the redis-server has used.
func redisCPU(tb testing.TB, c rueidis.Client) float64 {
	info, err := c.Do(context.Background(), c.B().Info().Section("cpu").Build()).ToString()
	if err != nil {
		tb.Fatal(err)
	}
	s := 0.0
	for _, l := range strings.Split(info, "\n") {
		l = strings.TrimSpace(l)
		for _, p := range []string{"used_cpu_user:", "used_cpu_sys:"} {
			if v, ok := strings.CutPrefix(l, p); ok {
				x, _ := strconv.ParseFloat(v, 64)
				s += x
			}
		}
	}
	return s
}

// commandUsec is the usec INFO commandstats gives every command: riskd sends them all (the test's own INFO
// and CONFIG calls are a few).
func commandUsec(tb testing.TB, c rueidis.Client) float64 {
	info, err := c.Do(context.Background(), c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		tb.Fatal(err)
	}
	total := 0.0
	for _, l := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				x, _ := strconv.ParseFloat(v, 64)
				total += x
			}
		}
	}
	return total
}
