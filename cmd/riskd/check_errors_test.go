package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckReportsEveryErrorAtItsKey: one `riskd check` shows everything wrong with a set, each error at the
// line of the key at fault. A misspelt key used to stop the run before the expressions were compiled, so the
// analyst fixed one error per run; and errors pointed at the rule, not at the key.
func TestCheckReportsEveryErrorAtItsKey(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.yaml")
	os.WriteFile(a, []byte(`thresholds: {step_up: 40, deny: 80}
rules:
  - id: tor
    description: A Tor exit.
    when: is_tor
    scor: 60
  - id: vpn
    description: A VPN.
    score: 30
    when: is_vpnn
  - id: multi
    score: 10
    when: |
      country == "US"
      && asn + 1
tenants:
  brand-a:
    disabel: [tor]
`), 0o600)
	os.WriteFile(b, []byte(`rules:
  - id: hosting
    when: is_hosting
    score: 500
tests:
  - name: tor
    when: {type: login, user_id: u, ip: 65.0.0.1, timestamp: now}
    expect: {decision: block}
`), 0o600)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"check", dir}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		a + `:6: rule file syntax: rule "tor": unknown key "scor"`,
		a + `:10: rule "vpn": when: unknown name is_vpnn`,
		a + `:15: rule "multi": when: `, // the expression's second line, inside the literal block
		a + `:18: rule file syntax: tenant: unknown key "disabel"`,
		b + `:4: rule "hosting": score 500 out of range`,
		b + `:8: test "tor": expect: decision "block"`,
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("one run lacks %q:\n%s", want, errb.String())
		}
	}
}
