package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// config is the command line.
type config struct {
	target      string // URL of a running server
	serverPID   int    // its pid, for CPU and RSS
	start       string // "riskd" or "bare": build and start it instead
	compare     bool
	root        string
	riskdBin    string // a riskd binary to start instead of building ./cmd/riskd
	redisOutage bool   // soak: riskd on a redis-server that is killed and restarted mid-run
	riskdFlags  string // more flags for a riskd the generator starts
	out         string // directory for the CSV and PNG files
	name        string // their name stem

	profile     string
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	capacity    time.Duration // -compare: capacity's measurement
	rounds      int           // -compare: capacity measurements of each server, alternating
	quietFor    time.Duration // -compare: longest wait for other processes to quieten down
	quietPct    float64       // -compare: what counts as quiet, % of a core used by other processes
	spike       spikeShape
	under       float64       // -compare: spike peak as a fraction of riskd's sustainable rate
	overs       []float64     // -compare: overload peaks as multiples of riskd's sustainable rate
	overHogs    int           // -compare: busy loops sharing riskd's core during the overload
	sustainP99  time.Duration // -compare: the p99 within which a rate counts as sustained
	queueTarget time.Duration // riskd's --queue-target in the servers the generator starts (0: not passed)
	runs        int           // -compare: whole comparisons to run, for the distribution of their figures

	conns         int // open loop: connections, so requests in flight at most
	capacityConns int // closed loop: connections sending back to back
	timeout       time.Duration
	lateAfter     time.Duration
	arrivals      string
	mix           MixConfig
	uaPath        string
	pin           string
	seed          uint64
	quiet         bool
	prime         bool // send the priming sweep before measuring (prime.go)
	cpuProfile    string
	client        string
}

func parseConfig(args []string, stderr io.Writer) (c config, err error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.target, "url", "http://127.0.0.1:8080/v1/decide", "target `URL` (loopback only)")
	fs.IntVar(&c.serverPID, "server-pid", 0, "`pid` of the target server, to report its CPU and RSS")
	fs.StringVar(&c.start, "start", "", "build and start `riskd|bare` on a free loopback port instead of -url")
	fs.BoolVar(&c.compare, "compare", false, "the full comparison: capacity of bare and riskd, a spike under capacity and one over it")
	fs.StringVar(&c.root, "root", ".", "a `directory` inside the riskd repository (for -start and -compare)")
	fs.BoolVar(&c.redisOutage, "redis-outage", false, "with -start riskd -profile soak: riskd shares state through a redis-server started for the run, killed a third of the way in and started again two thirds in")
	fs.StringVar(&c.riskdFlags, "riskd-flags", "", "with -start riskd and -compare: more `flags` for riskd serve, space-separated, after the usual ones (e.g. \"--max-conns-per-ip 100000\")")
	fs.StringVar(&c.riskdBin, "riskd-bin", "", "start this riskd `binary` instead of building ./cmd/riskd (another version, or a tree that does not build)")
	fs.StringVar(&c.out, "out", "", "`directory` to write per-second CSV and PNG plots to (-compare: default var/bench)")
	fs.StringVar(&c.name, "name", "", "file name stem of the CSV and PNG (default: target-profile)")

	fs.StringVar(&c.profile, "profile", "steady", "`capacity`, steady, spike or soak")
	fs.Float64Var(&c.rate, "rate", 2000, "requests per second (steady, soak; spike: the baseline)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of steady and soak, and of capacity's measurement")
	fs.DurationVar(&c.warmup, "warmup", 6*time.Second, "capacity: closed-loop warm-up left out of the figures (long enough for the population's state to exist)")
	fs.DurationVar(&c.capacity, "capacity-duration", 4*time.Second, "-compare: length of each capacity measurement")
	fs.IntVar(&c.rounds, "capacity-rounds", 2, "-compare: capacity measurements of each server, alternating; the best counts")
	fs.DurationVar(&c.quietFor, "quiet-wait", 20*time.Second, "-compare: wait at most this long for other processes to quieten down")
	fs.Float64Var(&c.quietPct, "quiet-below", 25, "-compare: quiet means other processes use less than this % of a core")
	fs.DurationVar(&c.spike.Base, "spike-base", 10*time.Second, "spike: time at the baseline")
	fs.DurationVar(&c.spike.Ramp, "spike-ramp", 5*time.Second, "spike: ramp from the baseline to the peak")
	fs.DurationVar(&c.spike.Hold, "spike-hold", 20*time.Second, "spike: time at the peak")
	fs.DurationVar(&c.spike.Back, "spike-back", 10*time.Second, "spike: time back at the baseline")
	fs.Float64Var(&c.spike.Factor, "spike-factor", 10, "spike: peak as a multiple of the baseline")
	fs.Float64Var(&c.under, "under", 0.65, "-compare: spike peak as a fraction of riskd's sustainable (open-loop) rate")
	over := fs.String("over", "1.1,2", "-compare: overload spike peaks, comma-separated `factors` of riskd's sustainable (open-loop) rate")
	fs.IntVar(&c.overHogs, "over-hogs", 0, "-compare: share riskd's core with `n` busy loops during the overload (a noisy neighbour), whose peak is then -over × riskd's capacity measured with them")
	fs.DurationVar(&c.sustainP99, "sustain-p99", 3*time.Millisecond, "-compare: a rate counts as sustained when its p99 stays within this")
	// Half the queue budget: the wait the controller holds the queue at, so that the budget sheds only what a
	// sudden burst puts past it (docs/OVERLOAD.md).
	fs.DurationVar(&c.queueTarget, "queue-target", 2500*time.Microsecond, "-start riskd and -compare: riskd's --queue-target (0: the flag is not passed, for a riskd built before it)")
	fs.IntVar(&c.runs, "runs", 1, "-compare: run the whole comparison `n` times and print the distribution of its figures over the runs")

	fs.IntVar(&c.conns, "conns", 1024, "open loop: keep-alive connections, so requests in flight at most")
	fs.IntVar(&c.capacityConns, "capacity-conns", 256, "capacity: connections sending back to back")
	fs.DurationVar(&c.timeout, "timeout", time.Second, "request timeout, counted from the scheduled send time")
	fs.DurationVar(&c.lateAfter, "late", time.Millisecond, "a send this much after its scheduled time counts as late")
	fs.StringVar(&c.arrivals, "arrivals", "poisson", "open-loop arrivals: `poisson` or uniform (evenly spaced)")
	fs.IntVar(&c.mix.Users, "users", 100_000, "returning users in the population")
	fs.Float64Var(&c.mix.HomeDemo, "home-demo", 0.3, "share of users whose home IP is in the demo GeoIP networks")
	fs.Float64Var(&c.mix.Failed, "failed", 0.03, "share of failed logins by legitimate users")
	fs.Float64Var(&c.mix.Checkout, "checkout", 0.07, "share of checkouts")
	fs.Float64Var(&c.mix.Travel, "travel", 0.02, "share of legitimate logins from a new place")
	fs.Float64Var(&c.mix.Attack, "attack", 0.05, "share of credential stuffing")
	fs.IntVar(&c.mix.AttackIPs, "attack-ips", 16, "addresses the credential stuffing comes from")
	fs.IntVar(&c.mix.TravelIPs, "travel-ips", defaultPool, "public addresses the logins from a new place come from (a bounded pool: see -prime)")
	fs.IntVar(&c.mix.StuffedUsers, "stuffed-users", defaultPool, "made-up user ids the credential stuffing tries, besides real users")
	fs.IntVar(&c.mix.StuffedDevices, "stuffed-devices", defaultPool, "device fingerprints the credential stuffing rotates")
	fs.BoolVar(&c.prime, "prime", true, "before measuring, send one request for every user, address and device of the mix (-users, -travel-ips, -stuffed-users, -stuffed-devices; -spray is not primed), so that the server's state is at its steady size and memory growth in the measurements is the server's; -compare and -start riskd only, or -url when given explicitly")
	spray := fs.Float64("spray", -1, "share of never-repeating user ids, IPs and device ids (default 0.5 for soak, else 0)")
	fs.StringVar(&c.uaPath, "ua", "", "user-agent TSV `file` (default ../shared/ua/real-user-agents.tsv beside the repository)")
	fs.StringVar(&c.pin, "pin", "auto", "-start and -compare: pin the server to one CPU and the generator to the others with taskset: auto, on, off, or server (pin only the server)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the population and the arrivals")
	fs.BoolVar(&c.quiet, "quiet", false, "no per-second progress on stderr")
	fs.StringVar(&c.client, "client", "loop", "the generator's HTTP client: `loop` (one goroutine, epoll; Linux only) or fasthttp (a goroutine a connection)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the generator's CPU profile to `file` (is the generator the bottleneck?)")
	if err = fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	// Someone else's server (-url) and bare (it keeps no state) are primed only when asked to.
	primeSet := false
	fs.Visit(func(f *flag.Flag) { primeSet = primeSet || f.Name == "prime" })
	if !c.compare && c.start != "riskd" && !primeSet {
		c.prime = false
	}
	c.mix.Spray = *spray
	if c.overs, err = parseFactors(*over); err != nil {
		return c, fmt.Errorf("-over: %w", err)
	}
	switch {
	case c.client == "loop" && !loopClientAvailable:
		c.client = "fasthttp"
	case c.client != "loop" && c.client != "fasthttp":
		return c, fmt.Errorf("-client %q: want loop or fasthttp", c.client)
	}
	if c.mix.Spray < 0 {
		c.mix.Spray = 0
		if c.profile == "soak" {
			c.mix.Spray = 0.5
		}
	}
	c.mix.Seed = c.seed
	switch {
	case c.conns < 1 || c.conns > 16384 || c.capacityConns < 1 || c.capacityConns > 16384:
		return c, errors.New("-conns and -capacity-conns must be 1..16384")
	case c.timeout <= 0 || c.timeout > time.Minute:
		return c, errors.New("-timeout must be above 0 and at most 1m")
	case c.arrivals != "poisson" && c.arrivals != "uniform":
		return c, fmt.Errorf("-arrivals %q: want poisson or uniform", c.arrivals)
	case c.start != "" && c.start != "riskd" && c.start != "bare":
		return c, fmt.Errorf("-start %q: want riskd or bare", c.start)
	case c.under <= 0:
		return c, errors.New("-under must be above 0")
	case c.runs < 1 || c.runs > 100:
		return c, errors.New("-runs must be 1..100")
	case c.sustainP99 <= 0:
		return c, errors.New("-sustain-p99 must be above 0")
	case c.redisOutage && (c.start != "riskd" || c.profile != "soak"):
		return c, errors.New("-redis-outage goes with -start riskd -profile soak")
	case c.rounds < 1 || c.rounds > 10:
		return c, errors.New("-capacity-rounds must be 1..10")
	case c.mix.TravelIPs < 1 || c.mix.StuffedUsers < 1 || c.mix.StuffedDevices < 1:
		return c, errors.New("-travel-ips, -stuffed-users and -stuffed-devices must be at least 1")
	}
	return c, nil
}

// buildProfile is the profile the flags ask for.
func (c config) buildProfile() (Profile, error) {
	var p Profile
	switch c.profile {
	case "capacity":
		p = capacityProfile(c.warmup, c.duration)
	case "steady":
		p = steadyProfile(c.rate, c.duration)
	case "spike":
		p = spikeProfile("spike", c.rate, c.spike)
	case "soak":
		p = soakProfile(c.rate, c.duration)
		if c.redisOutage {
			p = outageProfile(c.rate, c.duration)
		}
	default:
		return p, fmt.Errorf("-profile %q: want capacity, steady, spike or soak", c.profile)
	}
	return p, p.validate()
}

// parseFactors reads a comma-separated list of positive multiples, such as "1.1,2".
func parseFactors(s string) ([]float64, error) {
	var fs []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v > 0) || v > 100 {
			return nil, fmt.Errorf("%q: want factors above 0, such as 1.1,2", s)
		}
		fs = append(fs, v)
	}
	return fs, nil
}
