//go:build linux

package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long each CPU spins")
	minGap := flag.Duration("min", time.Millisecond, "the shortest gap that counts as a stall")
	cpuList := flag.String("cpus", "", "comma-separated CPUs to spin on (default: every CPU this process may use)")
	flag.Parse()
	cpus, err := chooseCPUs(*cpuList)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stalls:", err)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(len(cpus) + 1)
	results := make([][]time.Duration, len(cpus))
	errs := make([]error, len(cpus))
	var wg sync.WaitGroup
	for i, cpu := range cpus {
		wg.Go(func() { results[i], errs[i] = spin(cpu, *duration, *minGap) })
	}
	wg.Wait()
	fmt.Printf("%d CPU(s) busy for %v; gaps over %v while spinning:\n", len(cpus), *duration, *minGap)
	for i, cpu := range cpus {
		if errs[i] != nil {
			fmt.Fprintf(os.Stderr, "stalls: CPU %d: %v\n", cpu, errs[i])
			os.Exit(1)
		}
		fmt.Printf("CPU %d: %s\n", cpu, summary(results[i], *duration))
	}
}

// spin pins its thread to cpu and records the gaps longer than minGap between consecutive clock readings.
func spin(cpu int, d, minGap time.Duration) ([]time.Duration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	var gaps []time.Duration
	start := time.Now()
	last := start
	for {
		now := time.Now()
		if g := now.Sub(last); g > minGap {
			gaps = append(gaps, g)
		}
		last = now
		if now.Sub(start) >= d {
			return gaps, nil
		}
	}
}

func summary(gaps []time.Duration, d time.Duration) string {
	if len(gaps) == 0 {
		return "none"
	}
	var total time.Duration
	for _, g := range gaps {
		total += g
	}
	slices.Sort(gaps)
	return fmt.Sprintf("%d gaps (%.1f a second), longest %v, median %v, %.2f %% of the time lost",
		len(gaps), float64(len(gaps))/d.Seconds(), gaps[len(gaps)-1].Round(10*time.Microsecond),
		gaps[len(gaps)/2].Round(10*time.Microsecond), 100*total.Seconds()/d.Seconds())
}

func chooseCPUs(list string) ([]int, error) {
	if list == "" {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return nil, err
		}
		var cpus []int
		for c := range 1024 {
			if set.IsSet(c) {
				cpus = append(cpus, c)
			}
		}
		return cpus, nil
	}
	var cpus []int
	for f := range strings.SplitSeq(list, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 0 {
			return nil, fmt.Errorf("-cpus %q: want a comma-separated list of CPU numbers", list)
		}
		cpus = append(cpus, c)
	}
	return cpus, nil
}
