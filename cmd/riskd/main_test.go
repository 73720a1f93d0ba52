package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
	if code := run(context.Background(), []string{"check", good}, &out, &errb); code != 0 || !strings.Contains(out.String(), "ok: 1 rules") || !strings.Contains(out.String(), "no tests") {
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

// TestCheckRunsTests: riskd check runs a set's tests over the GeoIP databases it is given (flags before or
// after the path) and prints each case; a failed case fails the command with what was expected and what
// happened.
func TestCheckRunsTests(t *testing.T) {
	city, asn, anon := testenv.GeoIP(t)
	geoFlags := []string{"--geoip-city", city, "--geoip-asn", asn, "--geoip-anonymous", anon}
	check := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"check"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}

	code, out, errs := check(append([]string{"../../rules/default.yaml"}, geoFlags...)...)
	if code != 0 || !strings.Contains(out, "✓ a login from Tor is not allowed") || !strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("check default.yaml: exit %d:\n%s%s", code, out, errs)
	}
	code, out, errs = check(append(geoFlags, "../../testdata/rules/directory")...)
	if code != 0 || !strings.Contains(out, "tenant brand-a: 1 rules of its own; disables hosting_network; thresholds: login step_up 20 deny 80") {
		t.Fatalf("check a directory: exit %d:\n%s%s", code, out, errs)
	}

	failing := filepath.Join(t.TempDir(), "failing.yaml")
	os.WriteFile(failing, []byte(`thresholds: {step_up: 40, deny: 80}
rules:
  - {id: tor, when: is_tor, score: 60}
tests:
  - name: tor is denied
    when: {type: login, user_id: a, ip: 65.0.0.1, timestamp: now}
    expect: {decision: deny, reasons: [tor]}
`), 0o600)
	code, out, errs = check(append([]string{failing}, geoFlags...)...)
	for _, want := range []string{"✗ tor is denied", "want: decision deny; reasons tor", "got:  decision step_up, score 60, reasons tor",
		"- decision is step_up, want deny", "0 passed, 1 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if code != 1 || !strings.Contains(errs, "1 of 1 tests failed") {
		t.Fatalf("check failing: exit %d:\n%s%s", code, out, errs)
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

// process is a riskd binary serving on a loopback port.
type process struct {
	cmd  *exec.Cmd
	addr string
	logs *testenv.Output
}

// startProcess builds riskd and serves with the test GeoIP databases and the extra flags, waiting until ready.
func startProcess(t *testing.T, extra ...string) *process {
	t.Helper()
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
	p := &process{addr: addr, logs: &testenv.Output{}}
	args := append([]string{"serve", "--listen", addr, "--geoip-city", city, "--geoip-asn", asn, "--geoip-anonymous", anon}, extra...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("riskd did not become ready: %v\n%s", err, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("riskd did not stop after SIGTERM\n%s", p.logs.String())
	}
	if !strings.Contains(p.logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", p.logs.String())
	}
}

func (p *process) decide(body string) (int, error) {
	resp, err := http.Post("http://"+p.addr+"/v1/decide", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (p *process) decideBody(body string) (int, map[string]any, error) {
	resp, err := http.Post("http://"+p.addr+"/v1/decide", "application/json", strings.NewReader(body))
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) {
		// A pooled keep-alive connection closed under the request (the package's tests share the default
		// client, and a port a stopped process used can come back): send once more on a fresh one, as a
		// caller's client does. Any other error, or a second one, is the test's.
		resp, err = http.Post("http://"+p.addr+"/v1/decide", "application/json", strings.NewReader(body))
	}
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	err = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, err
}

func (p *process) rulesVersion(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + "/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Version string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v.Version
}

// TestServeProcessDrainsOnSIGTERM runs the real binary: it serves a decision over loopback, then exits 0 on
// SIGTERM.
func TestServeProcessDrainsOnSIGTERM(t *testing.T) {
	p := startProcess(t)
	if status, err := p.decide(`{"type":"login","user_id":"u","ip":"216.160.83.56","credentials_valid":true}`); err != nil || status != 200 {
		t.Fatalf("decide: %d %v", status, err)
	}
	p.stop(t)
}

// TestReloadUnderLoad swaps rules and GeoIP databases with SIGHUP while requests flow: a good rule file is
// taken, a broken one refused with the old set still serving, and no request fails.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	write := func(version, when string, tests ...string) {
		src := "version: " + version + "\nthresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: tor, when: " + when + ", score: 60}\n"
		if len(tests) > 0 {
			src += "tests:\n" + strings.Join(tests, "\n") + "\n"
		}
		if err := os.WriteFile(rulesPath, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("v1", "is_tor")
	p := startProcess(t, "--rules", rulesPath)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent, failed := 0, 0
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000; i++ { // bounded: the test stops it long before
				select {
				case <-stop:
					return
				default:
				}
				status, err := p.decide(fmt.Sprintf(`{"type":"login","user_id":"u%d-%d","ip":"216.160.83.56","credentials_valid":true}`, w, i))
				mu.Lock()
				sent++
				if err != nil || status != 200 {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	hup := func() {
		p.cmd.Process.Signal(syscall.SIGHUP)
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	write("v2", "is_tor || is_vpn")
	hup()
	if v := p.rulesVersion(t); v != "v2" {
		t.Fatalf("after a good reload: version %q", v)
	}
	write("v3", "is_torr")
	hup()
	if v := p.rulesVersion(t); v != "v2" {
		t.Fatalf("after a refused reload: version %q, want v2 still serving", v)
	}
	// A set that compiles but fails its own tests is refused too.
	write("v4", "is_vpn", "  - {name: tor steps up, when: {type: login, user_id: t, ip: 65.0.0.1, timestamp: now}, expect: {decision: step_up}}")
	hup()
	if v := p.rulesVersion(t); v != "v2" {
		t.Fatalf("after a reload whose tests fail: version %q, want v2 still serving", v)
	}
	for range 3 {
		hup()
	}
	close(stop)
	wg.Wait()
	if sent < 100 || failed != 0 {
		t.Fatalf("%d requests, %d failed", sent, failed)
	}
	logs := p.logs.String()
	if !strings.Contains(logs, "rules reload refused") || !strings.Contains(logs, `"action":"rules.reload","result":"refused"`) ||
		!strings.Contains(logs, `test \"tor steps up\": decision is allow, want step_up`) {
		t.Fatalf("the refused reload is not logged and audited:\n%s", logs)
	}
	t.Logf("%d requests during 6 reloads, %d failed", sent, failed)
	p.stop(t)
}
