package store

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// TestRedisInstructionsPerDecision counts the instructions a redis-server runs per decision: the Redis cost of
// the record script without the noise of a shared machine's timings. It runs only under
// bench/rediscost/instructions.sh, which starts redis-server under callgrind with instrumentation off
// (RISKD_INSTR_ADDR, its pid RISKD_INSTR_PID, its output directory RISKD_INSTR_DIR). The workload is
// BenchmarkRedisDecisionCost's at a tenth of the population and of the rate, so that subjects come back as often:
// 6,000 decisions make every subject, then 2,000 are counted, sent in pipelines of 100.
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
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const scale = 10
	subjects := func(i uint64) Subjects {
		return Subjects{User: mix(i % (50_000 / scale)), HasUser: true, IP: mix(1e6 + i%(20_000/scale)), HasIP: true,
			Device: mix(2e6 + i%(20_000/scale)), HasDevice: true, Subnet: mix(3e6 + i%(5_000/scale)), HasSubnet: true,
			ASN: mix(4e6 + i%50), HasASN: true, Country: [2]byte{'D', 'E'}, UA: 7}
	}
	start := time.Now().Unix() - 30
	at := func(i uint64) int64 { return start + int64(i/(decisionsPerSecond/scale)) }
	ctx := context.Background()
	send := func(from, to uint64) {
		for i := from; i < to; i += 100 {
			var cmds []rueidis.Completed
			var calls []*call
			for j := i; j < min(i+100, to); j++ {
				s := subjects(j)
				for _, rc := range r.recordCalls(&s, at(j), SetOf(Attempts), true, true, 1, time.Now().UnixMilli(), false) {
					cmd, cl := rc.cmd(c, r.rec)
					cmds, calls = append(cmds, cmd), append(calls, cl)
				}
			}
			for _, res := range doMulti(ctx, c, cmds, calls) {
				if err := res.Error(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for r.probeOld.Load() { // the layout marker, as on a Redis in service
		time.Sleep(10 * time.Millisecond)
	}
	send(0, 6_000)
	callgrind := func(args ...string) {
		if out, err := exec.Command("callgrind_control", append(args, pid)...).CombinedOutput(); err != nil {
			t.Fatal(string(out), err)
		}
	}
	const n = 2_000
	callgrind("-i", "on")
	send(6_000, 6_000+n)
	callgrind("-i", "off")
	callgrind("-d")
	files, _ := filepath.Glob(filepath.Join(dir, "callgrind.out.*.*"))
	if len(files) == 0 {
		t.Fatal("no callgrind dump")
	}
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "totals: "); ok {
			x, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			t.Logf("redis-server instructions per decision: %.0f", x/n)
			return
		}
	}
	t.Fatal("no totals in the callgrind dump")
}
