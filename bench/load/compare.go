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

// The targets -compare checks, as ratios measured side by side in one run: a shared machine's scheduling stalls
// are in every figure, so a latency is judged against bare's under the same load, and a rate against the
// rate riskd sustains in the same run.
const (
	targetRatio        = 0.5                   // riskd's capacity per core over bare's
	targetSpikeVsBare  = 2.0                   // riskd's spike p99 over bare's, at -under × the sustainable rate
	targetOverloadP99  = 10 * time.Millisecond // accepted requests above capacity
	rssFlatGrowth      = 0.10                  // "memory stays flat": at most this growth over the overload's hold
	generatorBoundBusy = 90                    // % of the generator's cores: above it, a ceiling may be the generator's
	// The sustainable rate is the highest open-loop rate whose p99 stays within -sustain-p99, found in
	// sustainSteps short steps of sustainHold held, each run again at most once (findSustainable).
	sustainSteps = 5
	sustainHold  = 6 * time.Second
)

// targetAnswered is the share of the sustainable rate riskd must keep answering in an overload hold at factor
// × that rate: 90 % just past it, 80 % at twice it and beyond.
func targetAnswered(factor float64) float64 {
	if factor <= 1.5 {
		return 0.9
	}
	return 0.8
}

// comparison is what one -compare run measured.
type comparison struct {
	bareCaps, riskdCaps []runResult   // capacity rounds
	bareCap, riskdCap   runResult     // the best round of each
	sustainSteps        []runResult   // open-loop steps against riskd, to find the rate it sustains
	sustainable         float64       // the highest of them whose p99 stayed within -sustain-p99 (0: none did)
	sustainBound        time.Duration // -sustain-p99
	calibration         []runResult   // open-loop steps against bare, to find the rate the generator sustains
	wantPeak, peak      float64       // the spike peak asked for (-under × sustainable) and the one run
	bareSpike           runResult     // the same spike against bare: what the generator and the machine add
	spike               runResult
	overloads           []overloadRun
	hogs                int       // busy loops sharing riskd's core during the overload (0: none)
	hogCap              runResult // riskd's capacity with them
	pin                 pinning
	ua                  string
	otherBefore         float64 // % of a core other processes used just before the measurements
	took                time.Duration
}

// overloadRun is one overload spike: its peak as a multiple of the rate it was placed on, and what it measured.
type overloadRun struct {
	factor float64
	base   float64 // the rate the factor multiplies: the sustainable rate (or the capacity with -over-hogs)
	res    runResult
}

// runCompare runs the comparison -runs times (the binaries built once, the servers started afresh each
// time), reports each run, and with more than one run the distribution of the figures over the runs and how
// many runs met each target.
func runCompare(ctx context.Context, c config, stdout, stderr io.Writer) error {
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
	var runs []comparison
	for i := range c.runs {
		dir := out
		if c.runs > 1 {
			dir = filepath.Join(out, fmt.Sprintf("run-%d", i+1))
			fmt.Fprintf(stderr, "run %d of %d\n", i+1, c.runs)
			fmt.Fprintf(stdout, "## Run %d of %d\n\n", i+1, c.runs)
		}
		cmp, err := c.compareOnce(ctx, bins, geo, pin, ua, stderr)
		if err != nil {
			return err
		}
		c.writeComparison(stdout, cmp)
		fmt.Fprintf(stderr, "wrote the per-second CSV files and plots to %s\n", dir)
		if err := c.writeComparisonFiles(dir, cmp); err != nil {
			return err
		}
		runs = append(runs, cmp)
	}
	if len(runs) > 1 {
		c.writeDistribution(stdout, runs)
	}
	return nil
}

// compareOnce measures bare's and riskd's capacity with the same generator in the same run, alternating
// between them; finds the rate riskd sustains open loop and the rate the generator can send; runs the
// campaign spike below riskd's sustainable rate against bare (the control) and riskd, then the overload
// spikes above it against riskd.
func (c config) compareOnce(ctx context.Context, bins map[string]string, geo string, pin pinning, ua *uaTable,
	stderr io.Writer) (comparison, error) {
	began := time.Now()
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
		return cmp, err
	}
	defer bare.stop()
	base, extra := riskdArgs(geo, c.queueTarget), strings.Fields(c.riskdFlags)
	args := func(addr string) []string { return append(base(addr), extra...) }
	riskd, err := startServer(ctx, "riskd", bins["riskd"], args, "/readyz", pin.server)
	if err != nil {
		return cmp, err
	}
	defer riskd.stop()
	if err := c.primeServer(ctx, riskd.addr, "/v1/decide", ua, stderr); err != nil {
		return cmp, err
	}
	if cmp.otherBefore, err = waitQuiet(ctx, c.quietFor, c.quietPct, stderr); err != nil {
		return cmp, err
	}

	// Alternating rounds, best of each: another tenant's burst of CPU lowers one round, not the comparison.
	capacity := capacityProfile(c.warmup, c.capacity)
	for range c.rounds {
		for _, s := range []*child{bare, riskd} {
			d, err := driverFor(s, c.capacityConns)
			if err != nil {
				return cmp, err
			}
			// Capacity is what the server answers, not what it sheds: a closed loop of many connections keeps
			// each request queued for milliseconds, so stamped requests would be shed by riskd's queue budget
			// (and not by bare, which has none), and riskd would be measured on its cheap refusals.
			d.stamp = false
			res, err := measure(ctx, d, capacity, s.pid(), s.name, c.lateAfter, progress)
			if err != nil {
				return cmp, err
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
		return cmp, fmt.Errorf("riskd answered nothing in the capacity runs: %s", strings.Join(cmp.riskdCap.Failures, "; "))
	}

	// What riskd sustains open loop: the closed loop's figure is a ceiling reached with every connection
	// busy and every wake-up batched, not a rate at which a request is answered in time.
	cmp.sustainBound = c.sustainP99
	cmp.sustainable, cmp.sustainSteps, err = findSustainable(capRate, c.sustainP99, func(r float64) (runResult, error) {
		d, err := driverFor(riskd, c.conns)
		if err != nil {
			return runResult{}, err
		}
		d.stamp = false // nothing is to be shed here: a step either keeps up or fails
		return measure(ctx, d, sustainProfile(r), riskd.pid(), "riskd", c.lateAfter, progress)
	})
	if err != nil {
		return cmp, err
	}
	placeOn := cmp.sustainable
	if placeOn <= 0 {
		// Not one step kept its p99 within the bound (a machine too busy to tell): the lowest step tried is
		// the best guess, and the report says so.
		placeOn = cmp.sustainSteps[len(cmp.sustainSteps)-1].Profile.Peak()
		for _, st := range cmp.sustainSteps {
			placeOn = min(placeOn, st.Profile.Peak())
		}
	}

	// The spike's peak: -under × the sustainable rate, unless the generator cannot send that open loop on its
	// cores. Loopback HTTP costs a client about as much CPU per request as a server, and more when it is not
	// batched, so on a small machine the generator's ceiling may be below the server's.
	cmp.wantPeak = c.under * placeOn
	if cmp.peak, cmp.calibration, err = c.calibrate(ctx, bare, driverFor, cmp.wantPeak, progress); err != nil {
		return cmp, err
	}
	spike := spikeProfile("spike", cmp.peak/c.spike.Factor, c.spike)
	d, err := driverFor(bare, c.conns)
	if err != nil {
		return cmp, err
	}
	d.stamp = false
	if cmp.bareSpike, err = measure(ctx, d, spike, bare.pid(), "bare", c.lateAfter, progress); err != nil {
		return cmp, err
	}
	if err := errors.Join(bare.exitedEarly(), riskd.exitedEarly()); err != nil {
		return cmp, err
	}
	bare.stop() // the pinned core is riskd's alone from here

	if d, err = driverFor(riskd, c.conns); err != nil {
		return cmp, err
	}
	if _, err := waitQuiet(ctx, c.quietFor, c.quietPct, stderr); err != nil {
		return cmp, err
	}
	// Under capacity nothing is to be shed: the spike's requests go unstamped, so that riskd's queue budget
	// cannot trade a slow answer for a shed one there. Above capacity they are stamped, as a caller that wants
	// the excess shed would stamp them.
	d.stamp = false
	if cmp.spike, err = measure(ctx, d, spike, riskd.pid(), "riskd", c.lateAfter, progress); err != nil {
		return cmp, err
	}
	// Above capacity. With -over-hogs, riskd's core is shared with busy loops, as with a noisy neighbour or a
	// CPU quota, and the overloads are placed on riskd's capacity measured with them.
	overBase := placeOn
	if c.overHogs > 0 && pin.server != "" {
		cmp.hogs = c.overHogs
		hogs, err := startHogs(pin.server, cmp.hogs)
		if err != nil {
			return cmp, err
		}
		defer hogs.stop()
		hd, err := driverFor(riskd, c.capacityConns)
		if err != nil {
			return cmp, err
		}
		hd.stamp = false
		if cmp.hogCap, err = measure(ctx, hd, capacityProfile(2*time.Second, c.capacity), riskd.pid(), "riskd", c.lateAfter, progress); err != nil {
			return cmp, err
		}
		overBase = cmp.hogCap.Total.Throughput()
	}
	for _, f := range c.overs {
		if d, err = driverFor(riskd, c.conns); err != nil {
			return cmp, err
		}
		d.stamp = true
		overload := spikeProfile(fmt.Sprintf("overload %.3g×", f), f*overBase/c.spike.Factor, c.overShape())
		res, err := measure(ctx, d, overload, riskd.pid(), "riskd", c.lateAfter, progress)
		if err != nil {
			return cmp, err
		}
		cmp.overloads = append(cmp.overloads, overloadRun{factor: f, base: overBase, res: res})
		if err := riskd.exitedEarly(); err != nil {
			return cmp, err
		}
	}
	cmp.took = time.Since(began)
	return cmp, nil
}

// overShape is the overload spike: the campaign spike's ramp and hold, with shorter times at the baseline
// (what they show was shown by the spike under capacity), so that two overloads fit in a short run.
func (c config) overShape() spikeShape {
	s := c.spike
	s.Base, s.Back = min(s.Base, 5*time.Second), min(s.Back, 5*time.Second)
	return s
}

// writeComparisonFiles writes each measurement's per-second CSV and plot into dir.
func (c config) writeComparisonFiles(dir string, cmp comparison) error {
	placeOn := cmp.sustainable
	errs := []error{
		writeFiles(dir, "bare-capacity", cmp.bareCap, "bare fasthttp handler, capacity (closed loop, best round)", nil),
		writeFiles(dir, "riskd-capacity", cmp.riskdCap, "riskd, capacity (closed loop, best round)", nil),
		writeFiles(dir, "bare-spike", cmp.bareSpike, fmt.Sprintf("bare fasthttp handler, the same spike to %s/s (the setup's floor)",
			rate(cmp.peak)), nil),
		writeFiles(dir, "riskd-spike", cmp.spike, fmt.Sprintf("riskd, campaign spike to %s/s (%.0f %% of the sustainable rate)",
			rate(cmp.peak), 100*cmp.peak/max(placeOn, 1)), []refLine{{2 * cmp.bareSpike.Total.P99, "2 × bare's p99"}}),
	}
	for _, o := range cmp.overloads {
		errs = append(errs, writeFiles(dir, fmt.Sprintf("riskd-overload-%gx", o.factor), o.res,
			fmt.Sprintf("riskd, overload spike to %s/s (%.3g × %s/s)", rate(o.res.Profile.Peak()), o.factor, rate(o.base)),
			[]refLine{{targetOverloadP99, "accepted p99 target"}}))
	}
	return errors.Join(errs...)
}

// sustainProfile is one step of the search for the sustainable rate: a second at a quarter of r, a second's
// ramp (the generator's connections open at the low rate, not in a burst), and sustainHold held at r, judged.
func sustainProfile(r float64) Profile {
	return spikeProfile("sustain", r/4, spikeShape{Base: time.Second, Ramp: time.Second, Hold: sustainHold, Factor: 4})
}

// sustained reports whether a step's hold kept up with its rate in time: nothing failed, dropped or shed, 99 %
// of the offered requests answered, the generator on schedule (a step it could not send proves nothing about
// riskd), and the latency within bound (latencyHeld).
func sustained(res runResult, bound time.Duration) bool {
	return keptUp(res.Phases[2]) && latencyHeld(res, bound)
}

// keptUp is sustained without the latency: what a stall of the machine cannot spoil.
func keptUp(h phaseResult) bool {
	return h.Errors == 0 && h.Dropped == 0 && h.Shed == 0 && h.Accepted*100 >= h.Offered*99 && h.Late*100 <= h.Offered
}

// latencyHeld reports whether a step's hold kept its p99 within bound in every second but a quarter of them
// (one of six). The machine stalls the server or the generator for 2–25 ms several times a minute, and near
// capacity the backlog of one stall takes many times its length to drain: a single such stall put a whole 4 s
// step's p99 past the bound, and the search then halved its rate, finding 52–57 % of the closed-loop capacity
// while riskd answered 80 % of it in the overloads. A rate riskd does not sustain fails in most seconds, as its
// backlog grows. Without per-second figures, the hold's p99 is judged.
func latencyHeld(res runResult, bound time.Duration) bool {
	n, over := 0, 0
	for _, s := range res.Seconds {
		if s.Phase != "hold" {
			continue
		}
		n++
		if s.P99 <= 0 || s.P99 > bound {
			over++
		}
	}
	if n == 0 {
		h := res.Phases[2]
		return h.P99 > 0 && h.P99 <= bound
	}
	return over <= n/4
}

// findSustainable searches, in sustainSteps steps run by step, for the highest rate below the closed-loop
// capacity capRate at which riskd answers in time (sustained with bound): the first step at 70 % of it, then
// halving the interval between the highest rate that passed (0 at first) and the lowest that failed. A step
// that kept up but failed on latency in at most half of its seconds, as the machine's stalls leave a step, is
// run once more, and counts as passed if the second run passes: one stall too many for latencyHeld must not
// halve the search. (With one retry a search, stalls on a noisy day took it down to 2,770/s, 9 % of the
// closed-loop capacity, with steps of 4,155 and 5,540/s failed in two seconds of six each.) A rate riskd does
// not sustain fails in most seconds, its backlog growing, and is not run again. It returns that rate (0 when no
// step passed) and the steps, retries included.
func findSustainable(capRate float64, bound time.Duration, step func(float64) (runResult, error)) (float64, []runResult, error) {
	var steps []runResult
	lo, hi := 0.0, capRate
	r := 0.7 * capRate
	for range sustainSteps {
		res, err := step(r)
		if err != nil {
			return 0, steps, err
		}
		steps = append(steps, res)
		ok := sustained(res, bound)
		if !ok && keptUp(res.Phases[2]) && 2*secondsOver(res, bound) <= holdSeconds(res) {
			if res, err = step(r); err != nil {
				return 0, steps, err
			}
			steps = append(steps, res)
			ok = sustained(res, bound)
		}
		if ok {
			lo = r
		} else {
			hi = r
		}
		r = (lo + hi) / 2
	}
	return lo, steps, nil
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
