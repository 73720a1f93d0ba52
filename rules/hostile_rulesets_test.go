package rules_test

import (
	"strings"
	"testing"

	"github.com/riskd/riskd/rules"
)

// TestHostileRuleSetStreams: bodies built to make the compiler's answer or work large stay bounded. A stream
// of misspelt keys answers with at most a couple of hundred errors, not one per key; thousands of empty
// documents compile as the one document among them; an alias bomb is refused, not expanded.
func TestHostileRuleSetStreams(t *testing.T) {
	var typos strings.Builder
	typos.WriteString("thresholds: {step_up: 40, deny: 80}\n")
	for range 5000 {
		typos.WriteString("---\nscor: 1\n")
	}
	_, err := rules.Compile("typos.yaml", []byte(typos.String()))
	if err == nil || !strings.Contains(err.Error(), "… and 4800 more errors") || len(err.Error()) > 64<<10 {
		t.Errorf("5,000 misspelt keys: %d bytes of error, want the first 200 and a count", len(err.Error()))
	}

	empty := strings.Repeat("---\n", 10000) + "thresholds: {step_up: 40, deny: 80}\n" + strings.Repeat("---\n", 10000)
	if set, err := rules.Compile("empty.yaml", []byte(empty)); err != nil || set.Thresholds.Deny != 80 {
		t.Errorf("empty documents: %v", err)
	}

	bomb := `a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
rules: [*g]
`
	if _, err := rules.Compile("bomb.yaml", []byte(bomb)); err == nil {
		t.Error("an alias bomb compiled")
	}
}
