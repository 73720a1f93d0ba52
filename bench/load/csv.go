package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"time"
)

// csvHeader names the columns of the per-second CSV: latencies in milliseconds from the scheduled send
// time, of the answers that arrived in that second; counts per second; CPU in % of one core (softirq: kernel
// network processing; other: every process but the server and the generator).
var csvHeader = []string{"t_s", "phase", "offered", "throughput", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
	"errors", "shed", "late", "dropped", "server_cpu_pct", "server_rss_mib", "generator_cpu_pct", "generator_stall_ms",
	"softirq_cpu_pct", "other_cpu_pct", "shed_p99_ms"}

// writeCSV writes one row per second of the run.
func writeCSV(path string, r runResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	err = w.Write(csvHeader)
	for _, s := range r.Seconds {
		if err != nil {
			break
		}
		server, rss, gen, softirq, other := "", "", "", "", ""
		if s.Usage.serverOK {
			server = strconv.FormatFloat(s.Usage.serverCPU, 'f', 1, 64)
			rss = strconv.FormatFloat(float64(s.Usage.serverRSS)/(1<<20), 'f', 1, 64)
		}
		if s.Usage.ok {
			gen = strconv.FormatFloat(s.Usage.genCPU, 'f', 1, 64)
		}
		if s.Usage.machineOK {
			softirq = strconv.FormatFloat(s.Usage.softirqCPU, 'f', 1, 64)
			other = strconv.FormatFloat(s.Usage.otherCPU, 'f', 1, 64)
		}
		err = w.Write([]string{
			strconv.Itoa(int(s.At / time.Second)), s.Phase,
			strconv.FormatUint(s.Offered, 10), strconv.FormatUint(s.Accepted, 10),
			msCSV(s.P50), msCSV(s.P90), msCSV(s.P99), msCSV(s.P999), msCSV(s.Max),
			strconv.FormatUint(s.Errors, 10), strconv.FormatUint(s.Shed, 10),
			strconv.FormatUint(s.Late, 10), strconv.FormatUint(s.Dropped, 10),
			server, rss, gen, msCSV(s.Stall), softirq, other, msCSV(s.ShedP99),
		})
	}
	if err == nil {
		w.Flush()
		err = w.Error()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// msCSV is a latency in milliseconds to the microsecond, empty for a second without answers.
func msCSV(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return strconv.FormatFloat(d.Seconds()*1000, 'f', 3, 64)
}
