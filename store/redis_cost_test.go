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
// decision does. It reports Redis's own accounting: script-us/decision, the usec INFO commandstats gives the
// scripts (which includes the commands they call), cmd-us/decision, the usec of every command riskd sends
// (the scripts and the GET of the profile), and cpu-us/decision, the CPU time of the redis-server process
// (INFO cpu), network I/O included. On a shared machine these move with the load of the other processes.
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
	b.StopTimer()
	cpu := redisCPU(b, c) - cpu0
	scripts, cmds := commandUsec(b, c)
	n := float64(b.N)
	b.ReportMetric(scripts/n, "script-us/decision")
	b.ReportMetric(cmds/n, "cmd-us/decision")
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

// commandUsec is the usec INFO commandstats gives the scripts, and them plus the commands riskd sends itself
// (the commands a script calls are counted inside its usec and again on their own line: they are left out).
func commandUsec(tb testing.TB, c rueidis.Client) (scripts, sent float64) {
	info, err := c.Do(context.Background(), c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		tb.Fatal(err)
	}
	var gets, getCalls float64
	for _, l := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var calls, usec float64
		for _, f := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(f, "=")
			x, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				calls = x
			case "usec":
				usec = x
			}
		}
		switch name {
		case "cmdstat_evalsha", "cmdstat_eval":
			scripts += usec
		case "cmdstat_get":
			gets, getCalls = usec, calls
		}
	}
	// riskd's own GETs are the profile reads, one per decision; the rest are the scripts'.
	return scripts, scripts + gets/max(getCalls, 1)
}
