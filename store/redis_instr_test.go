package store

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRedisInstructionsPerDecision counts the instructions a redis-server runs per decision: the Redis cost of
// the contribution layout's commands without the noise of a shared machine's timings. It runs only under
// bench/rediscost/instructions.sh, which starts redis-server under callgrind with instrumentation off
// (RISKD_INSTR_ADDR, its pid RISKD_INSTR_PID, its output directory RISKD_INSTR_DIR). The workload is
// BenchmarkRedisDecisionCost's at a tenth of the population and of the rate, so that subjects come back as often:
// 6,000 decisions make every subject, then 2,000 are counted, one after another, the writer's batches included.
// Then 2,000 more, each with the success an allowed login counts after it, as in a load run. Decisions come
// faster than at 1,000 a second (a decision's event time), so more subjects are fresh (read less) than in
// service: the load runs (bench/rediscost/run.sh) give the figure of record.
func TestRedisInstructionsPerDecision(t *testing.T) {
	addr, pid, dir := os.Getenv("RISKD_INSTR_ADDR"), os.Getenv("RISKD_INSTR_PID"), os.Getenv("RISKD_INSTR_DIR")
	if addr == "" || pid == "" || dir == "" {
		t.Skip("run by bench/rediscost/instructions.sh")
	}
	r, err := OpenRedis(RedisConfig{Addrs: []string{addr}, Timeout: 30 * time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const scale = 10
	subjects := func(i uint64) Subjects {
		return Subjects{User: mix(i % (50_000 / scale)), HasUser: true, IP: mix(1e6 + i%(20_000/scale)), HasIP: true,
			Device: mix(2e6 + i%(20_000/scale)), HasDevice: true, Subnet: mix(3e6 + i%(5_000/scale)), HasSubnet: true,
			ASN: mix(4e6 + i%50), HasASN: true, Country: [2]byte{'D', 'E'}, UA: 7}
	}
	// Event time starts at a fixed offset after a 4-hour boundary, which every window's bucket and the facts'
	// hour divide: the windows advance and the facts are swept at the same decisions in every run, so that the
	// count is the same from run to run.
	now := time.Now().Unix()
	start := now - now%(4*3600) - 4*3600 + 1805
	at := func(i uint64) int64 { return start + int64(i/(decisionsPerSecond/scale)) }
	// Decisions one after another, as riskd makes them, then the writer's batches of this instance's records.
	send := func(from, to uint64, success bool) {
		var out Reading
		for j := from; j < to; j++ {
			r.Observe(subjects(j), at(j), SetOf(Attempts), &out)
			if success {
				r.Count(subjects(j), SetOf(Successes), at(j))
			}
		}
		if err := r.barrier(time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for r.probeOld.Load() { // the layout marker, as on a Redis in service
		time.Sleep(10 * time.Millisecond)
	}
	send(0, 6_000, false)
	callgrind := func(args ...string) {
		if out, err := exec.Command("callgrind_control", append(args, pid)...).CombinedOutput(); err != nil {
			t.Fatal(string(out), err)
		}
	}
	const n = 2_000
	measure := func(what string, from uint64, success bool) {
		callgrind("-z")
		callgrind("-i", "on")
		send(from, from+n, success)
		callgrind("-i", "off")
		callgrind("-d")
		files, _ := filepath.Glob(filepath.Join(dir, "callgrind.out.*.*"))
		if len(files) == 0 {
			t.Fatal("no callgrind dump")
		}
		sort.Slice(files, func(i, j int) bool { return dumpNumber(files[i]) < dumpNumber(files[j]) })
		b, err := os.ReadFile(files[len(files)-1])
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "totals: "); ok {
				x, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
				t.Logf("redis-server instructions per %s: %.0f", what, x/n)
				return
			}
		}
		t.Fatal("no totals in the callgrind dump")
	}
	measure("decision", 6_000, false)
	measure("decision and its success", 8_000, true)
}

// dumpNumber is the sequence number callgrind gives a dump (callgrind.out.<pid>.<n>).
func dumpNumber(name string) int {
	n, _ := strconv.Atoi(name[strings.LastIndexByte(name, '.')+1:])
	return n
}
