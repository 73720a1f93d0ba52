package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DESIGN.md's targets, checked by -compare.
const (
	targetRatio        = 0.75                  // riskd's HTTP throughput over bare's
	targetSpikeP99     = 2 * time.Millisecond  // under capacity
	targetSpikeP999    = 5 * time.Millisecond  // under capacity
	targetOverloadP99  = 10 * time.Millisecond // accepted requests above capacity
	rssFlatGrowth      = 0.10                  // "memory stays flat": at most this growth over the overload's hold
	generatorBoundBusy = 90                    // % of the generator's cores: above it, a ceiling may be the generator's
)

// comparison is what -compare measured.
type comparison struct {
	bareCaps, riskdCaps []runResult // capacity rounds
	bareCap, riskdCap   runResult   // the best round of each
	calibration         []runResult // open-loop steps against bare, to find the rate the generator sustains
	wantPeak, peak      float64     // the spike peak asked for (-under × capacity) and the one run
	bareSpike           runResult   // the same spike against bare: what the generator and the machine add
	spike, overload     runResult
	hogs                int       // busy loops sharing riskd's core during the overload (0: none)
	hogCap              runResult // riskd's capacity with them
	pin                 pinning
	ua                  string
	otherBefore         float64 // % of a core other processes used just before the measurements
	took                time.Duration
}

// runCompare measures bare's and riskd's capacity with the same generator in the same run, alternating
// between them; finds the rate the generator can send open loop; runs the campaign spike below riskd's
// capacity against bare (the control) and riskd, then one above it against riskd; and reports them against
// DESIGN.md's targets.
func runCompare(ctx context.Context, c config, stdout, stderr io.Writer) error {
	began := time.Now()
	root, err := findRoot(c.root)
	if err != nil {
		return err
	}
	out := c.out
	if out == "" {
		out = filepath.Join(root, "var", "bench")
	}
	tmp, err := os.MkdirTemp("", "riskd-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintln(stderr, "building riskd and bare")
	bins, err := buildServers(ctx, root, tmp, stderr, map[string]string{"riskd": c.riskdBin}, "riskd", "bare")
	if err != nil {
		return err
	}
	geo, err := ensureGeoIP(ctx, root, stderr)
	if err != nil {
		return err
	}
	// Pin after building: the compiler should have every core.
	pin, err := planPinning(c.pin)
	if err == nil {
		err = pin.pinSelf()
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, pin.note)
	ua := userAgents(c, root, stderr)
	progress := c.progress(stderr)
	cmp := comparison{pin: pin, ua: ua.source}
	driverFor := func(s *child, conns int) (*driver, error) {
		mix, err := newMix(c.mixFor(), ua)
		if err != nil {
			return nil, err
		}
		d := newDriver(s.addr, "/v1/decide", mix, conns, c.timeout, c.arrivals == "poisson", c.seed)
		d.loop = c.client == "loop"
		return d, nil
	}

	// Both servers run on the same pinned core from the start; only one is loaded at a time, and an idle
	// fasthttp server costs nothing.
	bare, err := startServer(ctx, "bare", bins["bare"], bareArgs, "/healthz", pin.server)
	if err != nil {
		return err
	}
	defer bare.stop()
	riskd, err := startServer(ctx, "riskd", bins["riskd"], riskdArgs(geo), "/readyz", pin.server)
	if err != nil {
		return err
	}
	defer riskd.stop()
	if cmp.otherBefore, err = waitQuiet(ctx, c.quietFor, c.quietPct, stderr); err != nil {
		return err
	}

	// Alternating rounds, best of each: another tenant's burst of CPU lowers one round, not the comparison.
	capacity := capacityProfile(c.warmup, c.capacity)
	for range c.rounds {
		for _, s := range []*child{bare, riskd} {
			d, err := driverFor(s, c.capacityConns)
			if err != nil {
				return err
			}
			// Capacity is what the server answers, not what it sheds: a closed loop of many connections keeps
			// each request queued for milliseconds, so stamped requests would be shed by riskd's queue budget
			// (and not by bare, which has none), and riskd would be measured on its cheap refusals.
			d.stamp = false
			res, err := measure(ctx, d, capacity, s.pid(), s.name, c.lateAfter, progress)
			if err != nil {
				return err
			}
			if s == bare {
				cmp.bareCaps = append(cmp.bareCaps, res)
			} else {
				cmp.riskdCaps = append(cmp.riskdCaps, res)
			}
		}
	}
	cmp.bareCap, cmp.riskdCap = best(cmp.bareCaps), best(cmp.riskdCaps)
	capRate := cmp.riskdCap.Total.Throughput()
	if capRate <= 0 {
		return fmt.Errorf("riskd answered nothing in the capacity runs: %s", strings.Join(cmp.riskdCap.Failures, "; "))
	}

	// The spike's peak: -under × riskd's capacity, unless the generator cannot send that open loop on its
	// cores. Loopback HTTP costs a client about as much CPU per request as a server, and more when it is not
	// batched, so on a small machine the generator's ceiling may be below the server's.
	cmp.wantPeak = c.under * capRate
	if cmp.peak, cmp.calibration, err = c.calibrate(ctx, bare, driverFor, cmp.wantPeak, progress); err != nil {
		return err
	}
	spike := spikeProfile("spike", cmp.peak/c.spike.Factor, c.spike)
	d, err := driverFor(bare, c.conns)
	if err != nil {
		return err
	}
	if cmp.bareSpike, err = measure(ctx, d, spike, bare.pid(), "bare", c.lateAfter, progress); err != nil {
		return err
	}
	if err := errors.Join(bare.exitedEarly(), riskd.exitedEarly()); err != nil {
		return err
	}
	bare.stop() // the pinned core is riskd's alone from here

	if d, err = driverFor(riskd, c.conns); err != nil {
		return err
	}
	if _, err := waitQuiet(ctx, c.quietFor, c.quietPct, stderr); err != nil {
		return err
	}
	// Under capacity nothing is to be shed: the spike's requests go unstamped, so that riskd's queue budget
	// cannot trade a slow answer for a shed one there. Above capacity they are stamped, as a caller that wants
	// the excess shed would stamp them.
	d.stamp = false
	if cmp.spike, err = measure(ctx, d, spike, riskd.pid(), "riskd", c.lateAfter, progress); err != nil {
		return err
	}
	// Above capacity. With -over-hogs, riskd's core is shared with busy loops, as with a noisy neighbour or a
	// CPU quota, and the overload is -over times riskd's capacity measured with them.
	overCap := capRate
	if c.overHogs > 0 && pin.server != "" {
		cmp.hogs = c.overHogs
		hogs, err := startHogs(pin.server, cmp.hogs)
		if err != nil {
			return err
		}
		defer hogs.stop()
		hd, err := driverFor(riskd, c.capacityConns)
		if err != nil {
			return err
		}
		hd.stamp = false
		if cmp.hogCap, err = measure(ctx, hd, capacityProfile(2*time.Second, c.capacity), riskd.pid(), "riskd", c.lateAfter, progress); err != nil {
			return err
		}
		overCap = cmp.hogCap.Total.Throughput()
	}
	d.stamp = true
	overload := spikeProfile("overload", c.over*overCap/c.spike.Factor, c.spike)
	if cmp.overload, err = measure(ctx, d, overload, riskd.pid(), "riskd", c.lateAfter, progress); err != nil {
		return err
	}
	if err := riskd.exitedEarly(); err != nil {
		return err
	}
	cmp.took = time.Since(began)

	c.writeComparison(stdout, cmp)
	fmt.Fprintf(stderr, "wrote the per-second CSV files and plots to %s\n", out)
	return errors.Join(
		writeFiles(out, "bare-capacity", cmp.bareCap, "bare fasthttp handler, capacity (closed loop, best round)", nil),
		writeFiles(out, "riskd-capacity", cmp.riskdCap, "riskd, capacity (closed loop, best round)", nil),
		writeFiles(out, "bare-spike", cmp.bareSpike, fmt.Sprintf("bare fasthttp handler, the same spike to %s/s (the setup's floor)",
			rate(cmp.peak)), []refLine{{targetSpikeP99, "p99 target"}, {targetSpikeP999, "p99.9 target"}}),
		writeFiles(out, "riskd-spike", cmp.spike, fmt.Sprintf("riskd, campaign spike to %s/s (%.0f %% of capacity)",
			rate(cmp.peak), 100*cmp.peak/capRate), []refLine{{targetSpikeP99, "p99 target"}, {targetSpikeP999, "p99.9 target"}}),
		writeFiles(out, "riskd-overload", cmp.overload, fmt.Sprintf("riskd, overload spike to %s/s (%.0f %% of capacity)",
			rate(cmp.overload.Profile.Peak()), 100*c.over), []refLine{{targetOverloadP99, "accepted p99 target"}}),
	)
}

// calibrate finds the highest rate, from want down in steps of a fifth, that the generator sends open loop
// against bare without falling behind: a short spike (2 s base, 2 s ramp, 6 s hold) whose hold must have at
// most 1 % of sends late and a send lag p99 within -late, none dropped, no errors, and 99 % answered. It
// returns the rate to use and the steps.
func (c config) calibrate(ctx context.Context, bare *child, driverFor func(*child, int) (*driver, error), want float64,
	progress io.Writer) (float64, []runResult, error) {
	var steps []runResult
	r := want
	for i := range 5 {
		if i > 0 {
			r *= 0.8
		}
		d, err := driverFor(bare, c.conns)
		if err != nil {
			return 0, steps, err
		}
		p := spikeProfile("calibrate", r/c.spike.Factor, spikeShape{Base: 2 * time.Second, Ramp: 2 * time.Second,
			Hold: 6 * time.Second, Factor: c.spike.Factor})
		res, err := measure(ctx, d, p, bare.pid(), "bare", c.lateAfter, progress)
		if err != nil {
			return 0, steps, err
		}
		steps = append(steps, res)
		if h := res.Phases[2]; h.Late*100 <= h.Offered && h.LagP99 <= c.lateAfter && h.Dropped == 0 && h.Errors == 0 &&
			h.Accepted*100 >= h.Offered*99 {
			return r, steps, nil
		}
	}
	// None passed: the machine is too busy to tell. The step that fell behind least is the best guess.
	bestStep := steps[0]
	for _, st := range steps[1:] {
		if lateShare(st.Phases[2]) < lateShare(bestStep.Phases[2]) {
			bestStep = st
		}
	}
	return bestStep.Profile.Peak(), steps, nil
}

func lateShare(p phaseResult) float64 { return float64(p.Late+p.Dropped) / float64(max(p.Offered, 1)) }

// best is the round with the highest throughput.
func best(rounds []runResult) runResult {
	b := rounds[0]
	for _, r := range rounds[1:] {
		if r.Total.Throughput() > b.Total.Throughput() {
			b = r
		}
	}
	return b
}

// exitedEarly reports a server that died during a run: its figures would be about a dead process.
func (s *child) exitedEarly() error {
	select {
	case <-s.done:
		return fmt.Errorf("%s exited during the run (%v): %s", s.name, s.err, s.log)
	default:
		return nil
	}
}

// hogs are busy loops pinned to the server's core: a noisy neighbour taking a share of its CPU.
type hogs []*exec.Cmd

// startHogs starts n busy loops pinned to cpus.
func startHogs(cpus string, n int) (hogs, error) {
	var hs hogs
	for range n {
		cmd := exec.Command("taskset", "-c", cpus, "sh", "-c", "while :; do :; done")
		dieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			hs.stop()
			return nil, fmt.Errorf("start a busy loop: %w", err)
		}
		hs = append(hs, cmd)
	}
	return hs, nil
}

func (hs hogs) stop() {
	for _, h := range hs {
		_ = h.Process.Kill()
		_ = h.Wait()
	}
}
