package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/testenv"
)

// TestFeatureReferenceUpToDate keeps docs/FEATURES.md equal to what `riskd features` prints, so the names
// analysts read are the names rules compile against.
func TestFeatureReferenceUpToDate(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"features"}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	doc, err := os.ReadFile("../../docs/FEATURES.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, out.Bytes()) {
		t.Fatal("docs/FEATURES.md is stale: run `go run ./cmd/riskd features > docs/FEATURES.md`")
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("thresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: tor, when: is_tor, score: 60}\n"), 0o600)
	os.WriteFile(bad, []byte("thresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: tor, when: is_torr, score: 60}\n"), 0o600)

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"check", good}, &out, &errb); code != 0 || !strings.Contains(out.String(), "ok: 1 rules") {
		t.Fatalf("check good: exit %d: %s %s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"check", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), bad+`:3: rule "tor"`) {
		t.Fatalf("check bad: exit %d: %s", code, errb.String())
	}
	if code := run(context.Background(), []string{"check"}, &out, &errb); code != 2 {
		t.Fatalf("check without file: exit %d", code)
	}
}

func TestServeRefusesPublicAddressWithoutKeys(t *testing.T) {
	var out bytes.Buffer
	code := run(context.Background(), []string{"serve", "--listen", "0.0.0.0:0"}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), "loopback") {
		t.Fatalf("exit %d: %s", code, out.String())
	}
}

func TestConfigLayers(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "riskd.yaml")
	os.WriteFile(cfg, []byte("listen: 0.0.0.0:1\nmax-body: 1234\n"), 0o600)
	var c serveConfig
	fs := serveFlags(&c)
	t.Setenv("RISKD_CONCURRENCY", "77")
	t.Setenv("RISKD_MAX_BODY", "999")
	if err := fs.Parse([]string{"--config", cfg, "--concurrency", "5"}); err != nil {
		t.Fatal(err)
	}
	if err := applyLayers(fs); err != nil {
		t.Fatal(err)
	}
	// Flag beats environment, environment beats file, file beats default.
	if c.concurrency != 5 || c.maxBody != 999 || c.listen != "0.0.0.0:1" {
		t.Fatalf("concurrency %d max-body %d listen %q", c.concurrency, c.maxBody, c.listen)
	}
	os.WriteFile(cfg, []byte("no-such-flag: 1\n"), 0o600)
	fs = serveFlags(&c)
	fs.Parse([]string{"--config", cfg})
	if err := applyLayers(fs); err == nil || !strings.Contains(err.Error(), "no-such-flag") {
		t.Fatalf("unknown config key: %v", err)
	}
}

// TestServeProcessDrainsOnSIGTERM runs the real binary: it serves a decision over loopback, then exits 0 on
// SIGTERM.
func TestServeProcessDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	city, asn, anon := testenv.GeoIP(t)
	bin := filepath.Join(t.TempDir(), "riskd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", "--listen", addr, "--geoip-city", city, "--geoip-asn", asn, "--geoip-anonymous", anon)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("riskd did not become ready: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Post("http://"+addr+"/v1/decide", "application/json",
		strings.NewReader(`{"type":"login","user_id":"u","ip":"216.160.83.56","credentials_valid":true}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("decide: %v %v", err, resp)
	}
	resp.Body.Close()

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("riskd did not stop after SIGTERM\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", logs.String())
	}
}
