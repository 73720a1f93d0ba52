// Package storetest runs a real redis-server for tests: on a free loopback port, without persistence, stopped
// when the test ends. Without redis-server installed the test is skipped with a clear message, except under
// CI=true, where that fails it (CI installs redis-server: see .ci/run).
package storetest

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// Redis is a redis-server process owned by one test.
type Redis struct {
	Addr  string
	bin   string
	cmd   *exec.Cmd
	dir   string
	extra []string // more redis-server arguments (cluster mode)
}

// StartRedis starts a redis-server on a free loopback port and stops it when the test ends.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	r := &Redis{Addr: freeAddr(tb), bin: LookPath(tb, "redis-server"), dir: tb.TempDir()}
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
	r.cmd = exec.Command(r.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--loglevel", "warning")
	r.cmd.Args = append(r.cmd.Args, r.extra...)
	if err := r.cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !ping(r.Addr) {
		if time.Now().After(deadline) {
			r.Kill()
			tb.Fatalf("redis-server on %s did not answer PING", r.Addr)
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

func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// Client returns a client of this server only (of this node, in a cluster), closed when the test ends.
func (r *Redis) Client(tb testing.TB) rueidis.Client {
	tb.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{r.Addr}, DisableCache: true, ForceSingleClient: true})
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
