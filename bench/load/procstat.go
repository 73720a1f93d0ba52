package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// clockTicks is Linux's USER_HZ, the unit of utime and stime in /proc/PID/stat: 100 on every architecture Go
// supports (the kernel's internal HZ may differ, but what it exports to user space is fixed by the ABI).
const clockTicks = 100

// procUsage is a process's cumulative CPU time and current resident memory.
type procUsage struct {
	cpu time.Duration // user + system
	rss uint64        // bytes
}

// readProc reads pid's usage from /proc/PID/stat (CPU) and /proc/PID/status (VmRSS).
func readProc(pid int) (procUsage, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procUsage{}, err
	}
	var u procUsage
	if u.cpu, err = parseStatCPU(stat); err != nil {
		return procUsage{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procUsage{}, err
	}
	if u.rss, err = parseStatusRSS(status); err != nil {
		return procUsage{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return u, nil
}

// parseStatCPU returns utime + stime, fields 14 and 15 of /proc/PID/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no ')' after the command name")
	}
	f := bytes.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("too few fields")
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// parseStatusRSS returns VmRSS from /proc/PID/status, in bytes.
func parseStatusRSS(status []byte) (uint64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("VmRSS line %q", bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseUint(string(f[0]), 10, 64)
		return kb << 10, err
	}
	return 0, errors.New("no VmRSS line")
}

// machineUsage is the machine's cumulative CPU time from the first line of /proc/stat, all CPUs together.
type machineUsage struct {
	task    time.Duration // user, nice and system: time charged to some process
	softirq time.Duration // irq and softirq: loopback TCP is mostly processed here, charged to no process
	ok      bool
}

// readMachine reads the "cpu" line of /proc/stat.
func readMachine() machineUsage {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineUsage{}
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 8 || string(f[0]) != "cpu" {
		return machineUsage{}
	}
	var v [7]uint64 // user nice system idle iowait irq softirq
	for i := range v {
		if v[i], err = strconv.ParseUint(string(f[i+1]), 10, 64); err != nil {
			return machineUsage{}
		}
	}
	tick := time.Second / clockTicks
	return machineUsage{task: time.Duration(v[0]+v[1]+v[2]) * tick, softirq: time.Duration(v[5]+v[6]) * tick, ok: true}
}

// heapState is what a Go server's /metrics says of its heap: the collections so far and the heap size at which
// the next one starts. RSS alone cannot tell a heap that grows from one whose garbage is still climbing to a
// goal it has not reached since the live heap last grew: Go collects when the heap reaches twice the live heap
// (GOGC 100), and until a phase first takes it there, the pages its garbage fills are new to the process. The
// goal is twice the live heap at the last collection, so a goal that stays put over a phase whose RSS grew
// says the growth was garbage awaiting its collection, not state or a leak.
type heapState struct {
	gcs, goal uint64
	ok        bool
}

// parseHeapState reads go_gc_duration_seconds_count and go_memstats_next_gc_bytes from a Prometheus text page.
func parseHeapState(page []byte) heapState {
	var h heapState
	var seen int
	for line := range bytes.Lines(page) {
		for _, m := range [...]struct {
			name string
			to   *uint64
		}{{"go_gc_duration_seconds_count ", &h.gcs}, {"go_memstats_next_gc_bytes ", &h.goal}} {
			v, ok := bytes.CutPrefix(line, []byte(m.name))
			if !ok {
				continue
			}
			f, err := strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
			if err != nil || f < 0 {
				return heapState{}
			}
			*m.to = uint64(f)
			seen++
		}
	}
	h.ok = seen == 2
	return h
}

// readHeapState scrapes the server's /metrics; ok is false for a server without Go's metrics there (bare).
func readHeapState(addr string) heapState {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + "/metrics")
	if err := fasthttp.DoTimeout(req, resp, 500*time.Millisecond); err != nil || resp.StatusCode() != fasthttp.StatusOK {
		return heapState{}
	}
	return parseHeapState(resp.Body())
}

// sample is the usage of the server, of the generator and of the whole machine at one moment of a run.
type sample struct {
	at          time.Duration // offset from the run's start
	server, gen procUsage
	serverOK    bool
	heap        heapState // the server's, as of the last scrape (heapEvery)
	machine     machineUsage
}

// heapEvery is how many samples share one scrape of the server's /metrics: a scrape costs riskd a page of
// allocations, which must stay small against the garbage being measured (~140 KB a second against ~4 MB).
const heapEvery = 4

// sampler reads the server's and the generator's usage every interval until stopped.
type sampler struct {
	pid      int    // the server; 0 when unknown
	metrics  string // the server's address, for its /metrics; "" for none
	interval time.Duration
	heap     heapState
	taken    int

	mu      sync.Mutex
	samples []sample
	stop    chan struct{}
	done    chan struct{}
}

// startSampler samples the server with pid, and the Go heap of the server at metricsAddr ("" for none), every
// interval from start until stopped.
func startSampler(pid int, metricsAddr string, start time.Time, interval time.Duration) *sampler {
	s := &sampler{pid: pid, metrics: metricsAddr, interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
	s.take(start)
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				s.taken = 0 // the last sample has a fresh heap state
				s.take(start)
				return
			case <-t.C:
				s.take(start)
			}
		}
	}()
	return s
}

func (s *sampler) take(start time.Time) {
	smp := sample{at: time.Since(start), machine: readMachine()}
	smp.gen, _ = readProc(os.Getpid()) // without /proc the generator's columns are empty, not an error
	if s.pid > 0 {
		var err error
		smp.server, err = readProc(s.pid)
		smp.serverOK = err == nil
	}
	if s.metrics != "" && s.taken%heapEvery == 0 {
		switch h := readHeapState(s.metrics); {
		case h.ok:
			s.heap = h
		case !s.heap.ok:
			s.metrics = "" // no Go metrics there (bare): do not ask again
		} // else a scrape that failed under load: the last state stands, at most a second old
	}
	s.taken++
	smp.heap = s.heap
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
}

// Stop takes a last sample and returns them all.
func (s *sampler) Stop() []sample {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// usage is what the samples say about [from, to): CPU of the server and of the generator as a percentage of
// one core, and the server's RSS at the end. otherCPU is what the machine's other processes took (another
// tenant's build disturbs every figure); softirqCPU is kernel network processing, which loopback TCP needs and
// which no process is charged for. ok is false when no two samples span the interval.
type usage struct {
	serverCPU, genCPU    float64
	otherCPU, softirqCPU float64
	serverRSSFrom        uint64 // at the start
	serverRSS            uint64 // at the end
	heapFrom, heapTo     heapState
	serverOK, ok         bool
	machineOK            bool
}

// heapNote says what the server's Go heap did over u's interval, for a judgement of its RSS; "" when unknown.
func (u usage) heapNote() string {
	if !u.heapFrom.ok || !u.heapTo.ok || u.heapTo.gcs < u.heapFrom.gcs {
		return ""
	}
	return fmt.Sprintf("; Go heap goal %s → %s, %d collections", mib(u.heapFrom.goal), mib(u.heapTo.goal), u.heapTo.gcs-u.heapFrom.gcs)
}

func usageBetween(samples []sample, from, to time.Duration) usage {
	a, b := nearest(samples, from), nearest(samples, to)
	if a < 0 || b <= a {
		return usage{}
	}
	sa, sb := samples[a], samples[b]
	span := (sb.at - sa.at).Seconds()
	u := usage{ok: true, genCPU: 100 * (sb.gen.cpu - sa.gen.cpu).Seconds() / span}
	if sa.serverOK && sb.serverOK {
		u.serverOK = true
		u.serverCPU = 100 * (sb.server.cpu - sa.server.cpu).Seconds() / span
		u.serverRSSFrom, u.serverRSS = sa.server.rss, sb.server.rss
	}
	u.heapFrom, u.heapTo = sa.heap, sb.heap
	if sa.machine.ok && sb.machine.ok {
		u.machineOK = true
		u.softirqCPU = 100 * (sb.machine.softirq - sa.machine.softirq).Seconds() / span
		task := 100 * (sb.machine.task - sa.machine.task).Seconds() / span
		// The server's figure counts only when known; an unknown server shows up as "other".
		u.otherCPU = max(task-u.genCPU-u.serverCPU, 0)
	}
	return u
}

// nearest is the index of the sample closest to at, -1 when there is none.
func nearest(samples []sample, at time.Duration) int {
	best, bestD := -1, time.Duration(1<<62)
	for i, s := range samples {
		if d := max(s.at-at, at-s.at); d < bestD {
			best, bestD = i, d
		}
	}
	return best
}
