package storetest

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// Cluster is a Redis Cluster of three masters (no replicas) owned by one test, on loopback ports, without
// persistence, stopped when the test ends. Skipped without redis-server or redis-cli, except under CI=true.
type Cluster struct {
	Addrs []string // the masters' addresses, as seed nodes for a client
	Nodes []*Redis

	clients []rueidis.Client // one per node, for NodeKeys; made on first use
}

// StartCluster starts three cluster-enabled redis-servers, joins them with redis-cli --cluster create (the 16384
// slots split three ways) and waits until every node reports cluster_state:ok.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	server, cli := LookPath(tb, "redis-server"), LookPath(tb, "redis-cli")
	c := &Cluster{}
	for range 3 {
		r := &Redis{Addr: freeAddr(tb), bin: server, dir: tb.TempDir()}
		_, port, _ := net.SplitHostPort(r.Addr)
		// The bus port is chosen too: the default (port+10000) may be past 65535 or taken.
		_, bus, _ := net.SplitHostPort(freeAddr(tb))
		r.extra = []string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(r.dir, "nodes-"+port+".conf"),
			"--cluster-port", bus, "--cluster-node-timeout", "5000"}
		tb.Cleanup(r.Kill) // before Start, which kills on failure
		r.Start(tb)
		c.Nodes = append(c.Nodes, r)
		c.Addrs = append(c.Addrs, r.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cmd := exec.Command(cli, args...)
	if out, err := runTimeout(cmd, 20*time.Second); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, r := range c.Nodes {
		_, port, _ := net.SplitHostPort(r.Addr)
		for {
			out, _ := runTimeout(exec.Command(cli, "-h", "127.0.0.1", "-p", port, "cluster", "info"), 2*time.Second)
			if strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("cluster node %s not ok:\n%s", r.Addr, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

func runTimeout(cmd *exec.Cmd, d time.Duration) ([]byte, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return []byte(out.String()), err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return []byte(out.String()), context.DeadlineExceeded
	}
}

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) rueidis.Client {
	tb.Helper()
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: c.Addrs, DisableCache: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// Keys returns every key matching the glob pattern on any node, by SCAN on each node.
func (c *Cluster) Keys(tb testing.TB, pattern string) []string {
	tb.Helper()
	var keys []string
	for i := range c.Nodes {
		keys = append(keys, c.NodeKeys(tb, i, pattern)...)
	}
	return keys
}

// NodeKeys returns the keys matching the glob pattern on node i only, by SCAN.
func (c *Cluster) NodeKeys(tb testing.TB, i int, pattern string) []string {
	tb.Helper()
	if c.clients == nil {
		c.clients = make([]rueidis.Client, len(c.Nodes))
	}
	if c.clients[i] == nil {
		c.clients[i] = c.Nodes[i].Client(tb)
	}
	return scan(tb, c.clients[i], pattern)
}
