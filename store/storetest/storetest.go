// Package storetest runs a real redis-server for tests: on a free loopback port, without persistence, stopped
// when the test ends; with a password, ACL users or TLS when a test asks. Without redis-server installed the
// test is skipped with a clear message, except under CI=true, where that fails it (CI installs redis-server:
// see .ci/run).
package storetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/riskd/riskd/internal/testenv"
)

// Redis is a redis-server process owned by one test.
type Redis struct {
	Addr  string
	bin   string
	cmd   *exec.Cmd
	dir   string
	extra []string // more redis-server arguments (cluster mode)
	opts  Options
}

// Options secure a test's redis-server.
type Options struct {
	Args []string // more redis-server arguments: --requirepass, --aclfile, ...
	// User and Password are what the readiness probe and Client authenticate with (an admin: requirepass's
	// password, or an ACL user allowed everything); empty: no AUTH.
	User, Password string
	// TLS serves TLS only (--port 0 --tls-port) with the certificates of Certs; AuthClients is tls-auth-clients
	// (yes, no, optional; default yes). The probe and Client present the client certificate.
	TLS         *testenv.Certs
	AuthClients string
}

// StartRedis starts a redis-server on a free loopback port and stops it when the test ends.
func StartRedis(tb testing.TB) *Redis {
	return StartRedisWith(tb, Options{})
}

// StartRedisWith starts a redis-server with opts.
func StartRedisWith(tb testing.TB, opts Options) *Redis {
	tb.Helper()
	r := &Redis{Addr: freeAddr(tb), bin: LookPath(tb, "redis-server"), dir: tb.TempDir(), opts: opts}
	r.Start(tb)
	tb.Cleanup(r.Kill)
	return r
}

// LookPath finds a Redis program, skipping the test without it (failing it under CI=true).
func LookPath(tb testing.TB, name string) string {
	tb.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not installed under CI (.ci/run installs it): %v", name, err)
		}
		tb.Skipf("%s not installed: apt-get install redis-server to run the Redis tests", name)
	}
	return bin
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Start starts the server (again) on its port.
func (r *Redis) Start(tb testing.TB) {
	tb.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	args := []string{"--port", port}
	if c := r.opts.TLS; c != nil {
		auth := r.opts.AuthClients
		if auth == "" {
			auth = "yes"
		}
		args = []string{"--port", "0", "--tls-port", port, "--tls-cert-file", c.ServerCert, "--tls-key-file", c.ServerKey,
			"--tls-ca-cert-file", c.CA, "--tls-auth-clients", auth}
	}
	r.cmd = exec.Command(r.bin, append(args, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--loglevel", "warning")...)
	r.cmd.Args = append(r.cmd.Args, r.extra...)
	r.cmd.Args = append(r.cmd.Args, r.opts.Args...)
	var out lockedBuffer // what redis-server says when it refuses its arguments (a build without TLS, say)
	r.cmd.Stdout, r.cmd.Stderr = &out, &out
	if err := r.cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !r.ping() {
		if time.Now().After(deadline) {
			r.Kill()
			tb.Fatalf("redis-server on %s did not answer PING:\n%s", r.Addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (r *Redis) Kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Signal(syscall.SIGKILL)
		r.cmd.Wait()
		r.cmd = nil
	}
}

// ping reports whether the server answers PING (after AUTH, over TLS, as the options say).
func (r *Redis) ping() bool {
	d := net.Dialer{Timeout: 200 * time.Millisecond}
	var c net.Conn
	var err error
	if r.opts.TLS != nil {
		c, err = tls.DialWithDialer(&d, "tcp", r.Addr, r.opts.TLS.ClientConfig(true))
	} else {
		c, err = d.Dial("tcp", r.Addr)
	}
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	req := "PING\r\n"
	if r.opts.Password != "" {
		user := r.opts.User
		if user == "" {
			user = "default"
		}
		req = fmt.Sprintf("AUTH %s %s\r\n", user, r.opts.Password) + req
	}
	if _, err := c.Write([]byte(req)); err != nil {
		return false
	}
	rd := bufio.NewReader(c)
	line, err := rd.ReadString('\n')
	if err == nil && r.opts.Password != "" && strings.HasPrefix(line, "+OK") {
		line, err = rd.ReadString('\n')
	}
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// ClientOption is how a client reaches this server as the options' admin (with the client certificate).
func (r *Redis) ClientOption() rueidis.ClientOption {
	o := rueidis.ClientOption{InitAddress: []string{r.Addr}, DisableCache: true, ForceSingleClient: true,
		Username: r.opts.User, Password: r.opts.Password}
	if r.opts.TLS != nil {
		o.TLSConfig = r.opts.TLS.ClientConfig(true)
	}
	return o
}

// Client returns a client of this server only (of this node, in a cluster), closed when the test ends.
func (r *Redis) Client(tb testing.TB) rueidis.Client {
	tb.Helper()
	c, err := rueidis.NewClient(r.ClientOption())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// Keys returns every key matching the glob pattern on this server (this node, in a cluster), by SCAN.
func (r *Redis) Keys(tb testing.TB, pattern string) []string {
	tb.Helper()
	return scan(tb, r.Client(tb), pattern)
}

func scan(tb testing.TB, c rueidis.Client, pattern string) []string {
	tb.Helper()
	var keys []string
	var cursor uint64
	for {
		e, err := c.Do(context.Background(), c.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, e.Elements...)
		if cursor = e.Cursor; cursor == 0 {
			return keys
		}
	}
}

// lockedBuffer collects a process's output, written by exec's copying goroutine while a test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil // enough to say why it failed
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
