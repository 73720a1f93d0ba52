package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostileRule is the reproduction: a rule whose evaluation asks for a terabyte, which Go's runtime answers
// with an out-of-memory error no recover can catch.
const hostileRule = `  - {id: boom, when: 'len(repeat(repeat("a", 999999), 999999)) > 0', score: 10}`

// TestCheckRefusesHostileRule: riskd check used to compile this rule and die running the set's test; now the
// rule does not compile, and check says where and why.
func TestCheckRefusesHostileRule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hostile.yaml")
	os.WriteFile(path, []byte(`thresholds: {step_up: 40, deny: 80}
rules:
`+hostileRule+`
tests:
  - name: any login
    when: {type: login, user_id: u1, ip: 192.0.2.1, timestamp: now}
    expect: {decision: allow}
`), 0o600)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"check", path}, &out, &errb)
	want := path + `:3: rule "boom": when: repeat() is not allowed in rules`
	if code != 1 || !strings.Contains(errb.String(), want) {
		t.Fatalf("exit %d, want 1 and %q:\n%s%s", code, want, out.String(), errb.String())
	}
}

// TestServeAndBacktestRefuseHostileRules: a --rules file without tests used to start serving and die on the
// first decision, then again on every restart; riskd backtest died on the first event. Both now refuse the
// file before doing anything with it.
func TestServeAndBacktestRefuseHostileRules(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hostile.yaml")
	os.WriteFile(path, []byte("thresholds: {step_up: 40, deny: 80}\nrules:\n"+hostileRule+"\n"), 0o600)
	want := path + `:3: rule "boom": when: repeat() is not allowed in rules`

	// Bounded: a riskd that accepted the file would serve until the context ends, and exit 0.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	code := run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--rules", path}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), want) {
		t.Fatalf("serve: exit %d, want 1 and %q:\n%s", code, want, out.String())
	}

	logPath := filepath.Join(dir, "decisions.ndjson")
	os.WriteFile(logPath, nil, 0o600)
	out.Reset()
	code = run(context.Background(), []string{"backtest", "--rules", path, "--log", logPath}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), want) {
		t.Fatalf("backtest: exit %d, want 1 and %q:\n%s", code, want, out.String())
	}
}
