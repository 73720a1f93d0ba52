package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// pinning says which CPUs the server and the generator run on. On a small machine a generator that shares
// the server's cores takes CPU from it in proportion to the load, which blurs every comparison; pinned, the
// server has its cores to itself and each side's CPU figure says which one was the bottleneck.
type pinning struct {
	server, generator string // CPU lists for taskset; empty when not pinned
	generatorCPUs     int
	note              string
}

// planPinning decides the pinning for mode "auto" (pin when taskset exists and at least two CPUs are
// allowed), "on" (the same, or fail) or "off".
func planPinning(mode string) (pinning, error) {
	cpus, err := allowedCPUs()
	if mode == "off" {
		return pinning{note: fmt.Sprintf("not pinned: server and generator share %d CPUs", runtime.NumCPU())}, nil
	}
	if mode != "auto" && mode != "on" && mode != "server" {
		return pinning{}, fmt.Errorf("-pin %q: want auto, on, server or off", mode)
	}
	_, lookErr := exec.LookPath("taskset")
	if err == nil && lookErr != nil {
		err = lookErr
	}
	if err == nil && len(cpus) < 2 {
		err = errors.New("fewer than two CPUs allowed")
	}
	if err != nil {
		if mode == "on" {
			return pinning{}, fmt.Errorf("-pin on: %w", err)
		}
		return pinning{note: fmt.Sprintf("not pinned (%v): server and generator share %d CPUs", err, runtime.NumCPU())}, nil
	}
	// The server gets the last CPU: its throughput per core is the figure, and one core is what a 2-core machine
	// can spare. The generator gets the rest.
	p := pinning{server: strconv.Itoa(cpus[len(cpus)-1]), generatorCPUs: len(cpus) - 1}
	var gen []string
	for _, c := range cpus[:len(cpus)-1] {
		gen = append(gen, strconv.Itoa(c))
	}
	p.generator = strings.Join(gen, ",")
	if mode == "server" {
		p.generator, p.generatorCPUs = "", len(cpus)
		p.note = fmt.Sprintf("pinned with taskset: server on CPU %s (GOMAXPROCS 1); generator unpinned (GOMAXPROCS %d)", p.server, len(cpus))
		return p, nil
	}
	p.note = fmt.Sprintf("pinned with taskset: server on CPU %s (GOMAXPROCS 1), generator on CPU %s (GOMAXPROCS %d)",
		p.server, p.generator, p.generatorCPUs)
	return p, nil
}

// pinSelf moves every thread of the generator onto its CPUs. Threads the runtime starts later inherit the
// mask from the thread that creates them.
func (p pinning) pinSelf() error {
	if p.generator == "" {
		return nil
	}
	out, err := exec.Command("taskset", "-a", "-p", "-c", p.generator, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset: %w: %s", err, out)
	}
	runtime.GOMAXPROCS(p.generatorCPUs)
	return nil
}

// allowedCPUs lists the CPUs this process may run on, from /proc/self/status ("0-1", "0,2-3").
func allowedCPUs() ([]int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for line := range strings.Lines(string(b)) {
		list, ok := strings.CutPrefix(line, "Cpus_allowed_list:")
		if !ok {
			continue
		}
		return parseCPUList(strings.TrimSpace(list))
	}
	return nil, errors.New("no Cpus_allowed_list in /proc/self/status")
}

func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("CPU list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 4096 {
				return nil, fmt.Errorf("CPU list %q: bad range %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
