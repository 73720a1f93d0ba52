package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// outageHashKey keys identifiers in the outage soak; every riskd sharing a Redis must use the same one.
const outageHashKey = "riskd-load-outage-soak-0123456789abcdef"

// writeOutageHashKey writes outageHashKey to a file of its own (0600) for --hash-key-file: riskd refuses a
// hash key on its command line. The caller removes the file.
func writeOutageHashKey() (string, error) {
	f, err := os.CreateTemp("", "riskd-load-hash-key-*")
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(outageHashKey + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// redisServer is a redis-server the generator runs on a loopback port for the soak with a Redis outage: riskd
// shares its state through it, and the generator crashes it (SIGKILL, as a crash or the OOM killer would) and
// later starts it again on the same port, empty, as a restarted cache node comes back.
type redisServer struct {
	addr string
	mu   sync.Mutex
	proc *redisProcess // nil while crashed
}

type redisProcess struct {
	cmd  *exec.Cmd
	log  *tail
	done chan struct{}
}

// startRedis starts redis-server without persistence on a free loopback port and waits until it answers.
func startRedis(ctx context.Context) (*redisServer, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	r := &redisServer{addr: addr}
	if err := r.start(ctx); err != nil {
		r.crash()
		return nil, err
	}
	return r, nil
}

// start runs a new redis-server on r's address and waits until it answers PING.
func (r *redisServer) start(ctx context.Context) error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return errors.New("-redis-outage needs redis-server on PATH (Debian: apt-get install redis-server)")
	}
	host, port, _ := net.SplitHostPort(r.addr)
	p := &redisProcess{log: &tail{max: 8 << 10}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "--bind", host, "--port", port, "--save", "", "--appendonly", "no")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	dieWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		if ping(r.addr) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("redis-server on %s exited: %s", r.addr, p.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("redis-server on %s not answering: %s", r.addr, p.log)
}

// crash ends redis-server at once, without letting it save or say goodbye to its clients.
func (r *redisServer) crash() {
	r.mu.Lock()
	p := r.proc
	r.proc = nil
	r.mu.Unlock()
	if p != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// stop ends the server for good.
func (r *redisServer) stop() { r.crash() }

// ping reports whether a Redis answers PING on addr.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	b := make([]byte, 7)
	n, _ := c.Read(b)
	return strings.HasPrefix(string(b[:n]), "+PONG")
}

// outageProfile is the soak in three equal phases: state shared through Redis, Redis gone, Redis back.
func outageProfile(rate float64, d time.Duration) Profile {
	third := d / 3
	return Profile{Name: "redis-outage", Phases: []Phase{
		{Name: "shared", Duration: third, From: rate, To: rate},
		{Name: "redis down", Duration: third, From: rate, To: rate},
		{Name: "redis back", Duration: d - 2*third, From: rate, To: rate},
	}}
}

// scheduleOutage crashes r when p's first phase ends and starts it again when the second ends, counting from
// now, and reports each step on say. The returned function cancels what has not happened yet.
func scheduleOutage(ctx context.Context, r *redisServer, p Profile, say func(string)) (cancel func()) {
	ctx, stop := context.WithCancel(ctx)
	finished := make(chan struct{})
	begin := time.Now()
	go func() {
		defer close(finished)
		if !sleepUntil(ctx, begin.Add(p.Phases[0].Duration)) {
			return
		}
		r.crash()
		say(fmt.Sprintf("redis-server on %s killed (SIGKILL)", r.addr))
		if !sleepUntil(ctx, begin.Add(p.Phases[0].Duration+p.Phases[1].Duration)) {
			return
		}
		if err := r.start(ctx); err != nil {
			say("redis-server could not be started again: " + err.Error())
			return
		}
		say(fmt.Sprintf("redis-server on %s started again, empty", r.addr))
	}()
	return func() {
		stop()
		<-finished
	}
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}
