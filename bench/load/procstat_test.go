package main

import (
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestParseProc(t *testing.T) {
	// The command name may hold spaces and parentheses; fields count from the last ')'.
	stat := []byte("4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 123 456 789\n")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s (250 + 50 ticks)", cpu, err)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("a short stat line parsed")
	}
	rss, err := parseStatusRSS([]byte("Name:\tx\nVmPeak:\t 9999 kB\nVmRSS:\t  1536 kB\nThreads: 8\n"))
	if err != nil || rss != 1536<<10 {
		t.Errorf("parseStatusRSS = %d, %v; want %d", rss, err, 1536<<10)
	}
	if _, err := parseStatusRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("a status without VmRSS parsed")
	}
}

func TestReadOwnProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	u, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.rss < 1<<20 || u.cpu <= 0 {
		t.Errorf("own usage %+v: want some RSS and CPU", u)
	}
	if m := readMachine(); !m.ok || m.task <= 0 {
		t.Errorf("machine usage %+v", m)
	}
}

func TestUsageBetween(t *testing.T) {
	s := []sample{
		{at: 0, gen: procUsage{cpu: 0}, server: procUsage{cpu: 0, rss: 10 << 20}, serverOK: true,
			machine: machineUsage{task: 0, softirq: 0, ok: true}},
		{at: time.Second, gen: procUsage{cpu: 300 * time.Millisecond}, server: procUsage{cpu: 500 * time.Millisecond, rss: 12 << 20},
			serverOK: true, machine: machineUsage{task: 1000 * time.Millisecond, softirq: 100 * time.Millisecond, ok: true}},
		{at: 2 * time.Second, gen: procUsage{cpu: 600 * time.Millisecond}, server: procUsage{cpu: 1500 * time.Millisecond, rss: 14 << 20},
			serverOK: true, machine: machineUsage{task: 2500 * time.Millisecond, softirq: 300 * time.Millisecond, ok: true}},
	}
	u := usageBetween(s, time.Second, 2*time.Second)
	if u.serverCPU != 100 || u.genCPU != 30 || u.serverRSS != 14<<20 || u.softirqCPU != 20 || u.otherCPU != 20 {
		t.Errorf("usage %+v: want server 100 %%, generator 30 %%, RSS 14 MiB, softirq 20 %%, other 20 %%", u)
	}
	if u := usageBetween(s[:1], 0, time.Second); u.ok {
		t.Error("one sample gave a usage")
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("0-2,5,7-8")
	want := []int{0, 1, 2, 5, 7, 8}
	if err != nil || len(got) != len(want) {
		t.Fatalf("parseCPUList = %v, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("parseCPUList = %v, want %v", got, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "0-99999"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q) accepted", bad)
		}
	}
}

func TestParseHeapState(t *testing.T) {
	page := []byte("# HELP x\ngo_gc_duration_seconds{quantile=\"0.5\"} 0.001\ngo_gc_duration_seconds_sum 0.2\n" +
		"go_gc_duration_seconds_count 11\ngo_memstats_next_gc_bytes 6.68215698e+08\ngo_goroutines 15\n")
	if h := parseHeapState(page); !h.ok || h.gcs != 11 || h.goal != 668215698 {
		t.Errorf("parseHeapState = %+v, want 11 collections and a goal of 668215698", h)
	}
	for _, bad := range []string{"go_goroutines 15\n", "go_gc_duration_seconds_count 11\n", "ok", // bare's answer
		"go_gc_duration_seconds_count x\ngo_memstats_next_gc_bytes 1\n"} {
		if h := parseHeapState([]byte(bad)); h.ok {
			t.Errorf("%q parsed as %+v", bad, h)
		}
	}
}

func TestHeapNote(t *testing.T) {
	u := usage{heapFrom: heapState{gcs: 10, goal: 668 << 20, ok: true}, heapTo: heapState{gcs: 12, goal: 700 << 20, ok: true}}
	if got, want := u.heapNote(), "; Go heap goal 668 MiB → 700 MiB, 2 collections"; got != want {
		t.Errorf("heapNote = %q, want %q", got, want)
	}
	u.heapTo.ok = false
	if got := u.heapNote(); got != "" {
		t.Errorf("heapNote without the end's state = %q, want nothing", got)
	}
	// A server restarted between the samples counts collections from zero again: no note.
	u.heapTo = heapState{gcs: 1, goal: 10 << 20, ok: true}
	if got := u.heapNote(); got != "" {
		t.Errorf("heapNote over a restart = %q, want nothing", got)
	}
}

func TestSamplerReadsTheServersHeap(t *testing.T) {
	addr := serveLoopback(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString("go_gc_duration_seconds_count 3\ngo_memstats_next_gc_bytes 4194304\n")
	})
	s := startSampler(os.Getpid(), addr, time.Now(), 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	samples := s.Stop()
	u := usageBetween(samples, 0, samples[len(samples)-1].at)
	if !u.heapFrom.ok || !u.heapTo.ok || u.heapTo.goal != 4<<20 || u.heapTo.gcs != 3 {
		t.Errorf("heap over the run %+v → %+v, want 3 collections and a 4 MiB goal at both ends", u.heapFrom, u.heapTo)
	}
	// A server without Go's metrics is asked once.
	var asked atomic.Int32
	bare := serveLoopback(t, func(ctx *fasthttp.RequestCtx) { asked.Add(1); ctx.SetBodyString("ok") })
	s = startSampler(os.Getpid(), bare, time.Now(), 5*time.Millisecond)
	time.Sleep(60 * time.Millisecond)
	if samples = s.Stop(); samples[len(samples)-1].heap.ok || asked.Load() != 1 {
		t.Errorf("bare: heap %+v after %d scrapes, want none after 1", samples[len(samples)-1].heap, asked.Load())
	}
}
