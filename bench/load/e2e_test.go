package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/bench/bare/fixed"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/server"
)

// serve serves h on a loopback port for the test's lifetime.
func serve(t *testing.T, srv *fasthttp.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // Shutdown ends it
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func smallMix(t *testing.T) *Mix {
	t.Helper()
	m, err := newMix(MixConfig{Users: 1000, HomeDemo: 0.3, Failed: 0.03, Checkout: 0.07, Travel: 0.02, Attack: 0.05,
		AttackIPs: 4, Seed: 1, Nonce: 1}, builtinUserAgents())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// clients are the generator's HTTP clients on this system.
func clients() []string {
	if loopClientAvailable {
		return []string{"loop", "fasthttp"}
	}
	return []string{"fasthttp"}
}

// TestAgainstBare drives the bare server in-process, open loop then closed loop, with each client, and writes
// the report.
func TestAgainstBare(t *testing.T) {
	for _, client := range clients() {
		t.Run(client, func(t *testing.T) { againstBare(t, client == "loop") })
	}
}

func againstBare(t *testing.T, loop bool) {
	addr := serve(t, fixed.NewServer())
	d := newDriver(addr, "/v1/decide", smallMix(t), 32, 10*time.Second, true, 1)
	d.loop = loop
	ctx := context.Background()

	res, err := measure(ctx, d, steadyProfile(500, time.Second), os.Getpid(), "bare", 50*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	tot := res.Total
	if tot.Offered < 400 || tot.Offered > 600 || tot.Accepted != tot.Offered || tot.Errors != 0 || tot.Dropped != 0 || tot.Shed != 0 {
		t.Fatalf("steady 500/s for 1 s: %+v; failures %q", tot, res.Failures)
	}
	if tot.P50 <= 0 || tot.P99 < tot.P50 || tot.Max < tot.P99 {
		t.Errorf("latencies p50 %v p99 %v max %v", tot.P50, tot.P99, tot.Max)
	}

	dir := t.TempDir()
	if err := writeFiles(dir, "steady", res, "test", []refLine{{2 * time.Millisecond, "target"}}); err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(filepath.Join(dir, "steady.png"))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("steady.png: %v, starts %q", err, png[:min(len(png), 8)])
	}
	csv, err := os.ReadFile(filepath.Join(dir, "steady.csv"))
	if err != nil || !strings.HasPrefix(string(csv), strings.Join(csvHeader, ",")+"\n0,steady,") {
		t.Errorf("steady.csv: %v\n%s", err, csv)
	}

	d = newDriver(addr, "/v1/decide", smallMix(t), 8, 10*time.Second, false, 2)
	d.loop = loop
	res, err = measure(ctx, d, capacityProfile(100*time.Millisecond, 400*time.Millisecond), 0, "bare", time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total.Answered == 0 || res.Total.Errors != 0 {
		t.Fatalf("capacity: %+v; failures %q", res.Total, res.Failures)
	}
	var md strings.Builder
	writeMarkdown(&md, res)
	if !strings.Contains(md.String(), "| capacity | 0 | closed loop | ") {
		t.Errorf("markdown:\n%s", md.String())
	}
}

// TestRiskdAcceptsTheMix sends the generated traffic to riskd's real handler: every body must be a valid
// request (riskd refuses unknown fields and bad values with a 4xx, which the driver counts as an error).
func TestRiskdAcceptsTheMix(t *testing.T) {
	srv, err := server.New(server.Config{Engine: enginetest.New(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // Shutdown ends it
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	for _, client := range clients() {
		d := newDriver(ln.Addr().String(), "/v1/decide", smallMix(t), 16, 10*time.Second, true, 3)
		d.loop = client == "loop"
		res, err := measure(context.Background(), d, steadyProfile(300, time.Second), 0, "riskd", 50*time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tot := res.Total; tot.Accepted == 0 || tot.Errors != 0 {
			t.Fatalf("riskd, %s client: %+v; failures %q", client, tot, res.Failures)
		}
	}
}
