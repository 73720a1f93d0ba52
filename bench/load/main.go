package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

func main() {
	// Ctrl-C and SIGTERM cancel the run; run's deferred calls then stop every server it started.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if c.compare {
		return runCompare(ctx, c, stdout, stderr)
	}
	return runSingle(ctx, c, stdout, stderr)
}

// runSingle plays one profile against -url, or against a server it starts with -start.
func runSingle(ctx context.Context, c config, stdout, stderr io.Writer) error {
	p, err := c.buildProfile()
	if err != nil {
		return err
	}
	root, rootErr := findRoot(c.root)
	addr, path, pid := "", "", c.serverPID
	label := "target"
	var redis *redisServer
	riskdExtra := strings.Fields(c.riskdFlags)
	if c.redisOutage {
		if redis, err = startRedis(ctx); err != nil {
			return err
		}
		defer redis.stop()
		keyFile, err := writeOutageHashKey()
		if err != nil {
			return err
		}
		defer os.Remove(keyFile)
		riskdExtra = append(riskdExtra, "--redis", redis.addr, "--hash-key-file", keyFile)
	}
	if c.start != "" {
		if rootErr != nil {
			return rootErr
		}
		srv, pin, err := buildAndStart(ctx, c, root, c.start, riskdExtra, stderr)
		if err != nil {
			return err
		}
		defer srv.stop()
		fmt.Fprintln(stderr, pin.note)
		addr, path, pid, label = srv.addr, "/v1/decide", srv.pid(), c.start
	} else if addr, path, err = parseTarget(c.target); err != nil {
		return err
	}
	ua := userAgents(c, root, stderr)
	mix, err := newMix(c.mixFor(), ua)
	if err != nil {
		return err
	}
	if err := c.primeServer(ctx, addr, path, ua, stderr); err != nil {
		return err
	}
	conns := c.conns
	if p.Closed {
		conns = c.capacityConns
	}
	d := newDriver(addr, path, mix, conns, c.timeout, c.arrivals == "poisson", c.seed)
	d.loop = c.client == "loop"
	if redis != nil {
		stop := scheduleOutage(ctx, redis, p, func(msg string) { fmt.Fprintln(stderr, msg) })
		defer stop()
	}
	before, counted := serverGoroutines(addr)
	res, err := measure(ctx, d, p, pid, label, c.lateAfter, c.progress(stderr))
	writeMarkdown(stdout, res)
	if err != nil {
		return err
	}
	if after, ok := goroutinesSettled(d, before); counted && ok {
		fmt.Fprintf(stdout, "Server goroutines: %d before the run, %d after it, once the generator's connections closed and the server's idle workers ended.\n", before, after)
	}
	if c.out == "" {
		return nil
	}
	name := c.name
	if name == "" {
		name = label + "-" + p.Name
	}
	return writeFiles(c.out, name, res, label+", "+p.Name+" profile", nil)
}

// buildAndStart builds one server (riskd or bare), pins the generator, and starts the server pinned; riskd gets
// riskdExtra after its usual arguments.
func buildAndStart(ctx context.Context, c config, root, which string, riskdExtra []string, stderr io.Writer) (*child, pinning, error) {
	tmp, err := os.MkdirTemp("", "riskd-load-")
	if err != nil {
		return nil, pinning{}, err
	}
	defer os.RemoveAll(tmp) // the running binary stays open; removing its directory entry is fine on Linux
	bins, err := buildServers(ctx, root, tmp, stderr, map[string]string{"riskd": c.riskdBin}, which)
	if err != nil {
		return nil, pinning{}, err
	}
	args, ready := bareArgs, "/healthz"
	if which == "riskd" {
		geo, err := ensureGeoIP(ctx, root, stderr)
		if err != nil {
			return nil, pinning{}, err
		}
		base := riskdArgs(geo, c.queueTarget)
		args = func(addr string) []string { return append(base(addr), riskdExtra...) }
		ready = "/readyz"
	}
	pin, err := planPinning(c.pin)
	if err == nil {
		err = pin.pinSelf()
	}
	if err != nil {
		return nil, pin, err
	}
	srv, err := startServer(ctx, which, bins[which], args, ready, pin.server)
	return srv, pin, err
}

// userAgents loads -ua, else the shared file beside the repository, else the built-in few, saying so.
func userAgents(c config, root string, stderr io.Writer) *uaTable {
	path := c.uaPath
	if path == "" && root != "" {
		path = sharedUserAgents(root)
	}
	if path != "" {
		t, err := loadUserAgents(path)
		if err == nil {
			return t
		}
		fmt.Fprintf(stderr, "note: user agents: %v; using %d built-in user agents instead\n", err, len(builtinUserAgents().agents))
	} else {
		fmt.Fprintf(stderr, "note: no user-agent file; using %d built-in user agents\n", len(builtinUserAgents().agents))
	}
	return builtinUserAgents()
}

// mixFor is the mix with a nonce of this run, so sprayed ids never repeat across runs against one server.
func (c config) mixFor() MixConfig {
	m := c.mix
	m.Nonce = uint64(time.Now().UnixNano())
	return m
}

func (c config) progress(stderr io.Writer) io.Writer {
	if c.quiet {
		return nil
	}
	return stderr
}

// writeFiles writes NAME.csv and NAME.png into dir.
func writeFiles(dir, name string, r runResult, title string, refs []refLine) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return errors.Join(
		writeCSV(filepath.Join(dir, name+".csv"), r),
		writePlot(filepath.Join(dir, name+".png"), r, title, refs),
	)
}
