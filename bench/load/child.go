package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// child is a server process the generator started: riskd or bare, on a free loopback port.
type child struct {
	name string
	addr string
	cmd  *exec.Cmd
	log  *tail
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

// startServer starts bin with the arguments args(addr) on a free loopback port, pinned to cpus when not
// empty, and waits until GET readyPath answers 200. The free port is found by listening on port 0 and
// closing; another process may take it in between, so a server that exits at once is retried on a new port.
func startServer(ctx context.Context, name, bin string, args func(addr string) []string, readyPath, cpus string) (*child, error) {
	var err error
	for range 3 {
		var s *child
		if s, err = startOnce(name, bin, args, cpus); err != nil {
			return nil, err
		}
		if err = s.waitReady(ctx, readyPath, 30*time.Second); err == nil {
			return s, nil
		}
		s.stop()
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func startOnce(name, bin string, args func(string) []string, cpus string) (*child, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	argv := append([]string{bin}, args(addr)...)
	if cpus != "" {
		// taskset execs the server in place, so the pid the generator watches is the server's.
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	s := &child{name: name, addr: addr, cmd: cmd, log: &tail{max: 16 << 10}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// pid is the server process's id.
func (s *child) pid() int { return s.cmd.Process.Pid }

// waitReady polls GET path every 50 ms until it answers 200, the process exits or the timeout passes.
func (s *child) waitReady(ctx context.Context, path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + s.addr + path)
	for time.Now().Before(deadline) {
		if err := fasthttp.DoTimeout(req, resp, 500*time.Millisecond); err == nil && resp.StatusCode() == fasthttp.StatusOK {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before it was ready (%v): %s", s.name, s.err, s.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready on %s%s after %v: %s", s.name, s.addr, path, timeout, s.log)
}

// stop asks the server to shut down (SIGTERM) and kills it if it has not exited within 5 s. It is safe to
// call more than once.
func (s *child) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// tail keeps the last max bytes written to it: a server's log, for the error message if it fails.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// findRoot walks up from dir to the riskd module's root (the go.mod of github.com/riskd/riskd).
func findRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for range 32 {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.HasPrefix(strings.TrimSpace(string(b)), "module github.com/riskd/riskd\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("not inside the riskd repository (no go.mod of github.com/riskd/riskd above the working directory); pass -root")
}

// goTool runs the go command in root, its output going to the generator's stderr.
func goTool(ctx context.Context, root string, stderr io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, goCommand(), args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// goCommand is the go command to build with: $GO when set (as the Makefile's GO variable), else go on PATH.
func goCommand() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// buildServers builds the binaries the generator starts into dir; prebuilt names a binary to use as it is.
func buildServers(ctx context.Context, root, dir string, stderr io.Writer, prebuilt map[string]string, names ...string) (map[string]string, error) {
	pkgs := map[string]string{"riskd": "./cmd/riskd", "bare": "./bench/bare"}
	bins := map[string]string{}
	for _, n := range names {
		if p := prebuilt[n]; p != "" {
			if _, err := os.Stat(p); err != nil {
				return nil, err
			}
			bins[n] = p
			continue
		}
		bin := filepath.Join(dir, n)
		if err := goTool(ctx, root, stderr, "build", "-o", bin, pkgs[n]); err != nil {
			return nil, err
		}
		bins[n] = bin
	}
	return bins, nil
}

// ensureGeoIP generates the demo GeoIP databases riskd is served with, as make run does, when missing.
func ensureGeoIP(ctx context.Context, root string, stderr io.Writer) (dir string, err error) {
	dir = filepath.Join(root, "var", "geoip")
	if _, err := os.Stat(filepath.Join(dir, "city.mmdb")); err == nil {
		return dir, nil
	}
	return dir, goTool(ctx, root, stderr, "run", "./bench/geogen", "-out", dir)
}

// riskdArgs serves riskd with the demo GeoIP databases, logging only warnings (its request path logs nothing).
// queueBudget is riskd's --queue-budget in the benchmarks: half the accepted-p99 target above capacity, so
// that an accepted request has the other half for its evaluation and the trip back.
const queueBudget = "5ms"

// queueTarget is riskd's --queue-target (-queue-target; 0 leaves the flag out, for a riskd that predates it).
func riskdArgs(geo string, queueTarget time.Duration) func(string) []string {
	return func(addr string) []string {
		args := []string{"serve", "--listen", addr,
			"--geoip-city", filepath.Join(geo, "city.mmdb"), "--geoip-asn", filepath.Join(geo, "asn.mmdb"),
			"--geoip-anonymous", filepath.Join(geo, "anonymous.mmdb"), "--shutdown-timeout", "2s",
			// Where the generator stamps a request (X-Request-Start, the time it left the generator), what
			// then waited longer than this in the sockets and riskd's backlog is shed rather than answered late;
			// with --queue-target the controller sheds instead, at random (docs/OVERLOAD.md).
			"--queue-budget", queueBudget,
			// The generator is one client holding -conns connections from one address, more than riskd's
			// default bound per client address allows.
			"--max-conns-per-ip", "0"}
		if queueTarget > 0 {
			args = append(args, "--queue-target", queueTarget.String())
		}
		return args
	}
}

func bareArgs(addr string) []string { return []string{"-listen", addr} }
