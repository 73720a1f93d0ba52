package rules_test

import (
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// TestRulesCannotRunUnbounded: a rule is a predicate over one event. An expression that would build huge
// values is stopped by the VM's memory budget (the rule counts as not firing and the evaluation error is
// counted), an oversized expression is refused at compile time, and the wall clock is not available.
func TestRulesCannotRunUnbounded(t *testing.T) {
	set, err := rules.Compile("limits.yaml", []byte(`thresholds: {step_up: 40, deny: 80}
rules:
  - {id: huge_range, when: "len(1..100000000) > 0", score: 50}
  - {id: nested_maps, when: "len(map(1..5000, map(1..5000, #))) > 0", score: 50}
  - {id: fine, when: "is_tor", score: 10}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := rules.NewEvaluator()
	e.Vector = features.Vector{IsTor: true}
	var res rules.Result
	start := time.Now()
	set.Evaluate(e, rules.Input{Type: features.Login}, &res)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("evaluation took %v", took)
	}
	if res.Errors != 2 || res.Score != 10 || len(res.Fired) != 1 {
		t.Fatalf("errors %d score %d fired %v: the runaway rules should fail, the others still count", res.Errors, res.Score, res.Fired)
	}

	long := "asn == 1" + strings.Repeat(" || asn == 1", 600)
	if _, err := rules.Compile("big.yaml", []byte("thresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: big, when: \""+long+"\", score: 1}\n")); err == nil {
		t.Fatal("an expression of 1,200 nodes compiled")
	}
	for _, when := range []string{"now().Year() > 2000", "date('2026-01-01') < now()"} {
		if _, err := rules.Compile("clock.yaml", []byte("thresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: clock, when: \""+when+"\", score: 1}\n")); err == nil {
			t.Fatalf("%q compiled: rules must not read the wall clock", when)
		}
	}
}

func TestHelpersAreTyped(t *testing.T) {
	set, err := rules.Compile("h.yaml", []byte(`thresholds: {step_up: 40, deny: 80}
rules:
  - {id: far_from_paris, when: "distance(lat, lon, 48.8566, 2.3522) > 1000", score: 10}
  - {id: listed, when: 'in_list("watch")', score: 10}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := rules.NewEvaluator()
	e.Vector = features.Vector{Lat: 59.33, Lon: 18.06, ListMask: 1} // Stockholm, 1,540 km from Paris
	var res rules.Result
	set.Evaluate(e, rules.Input{Type: features.Login}, &res)
	if res.Score != 20 {
		t.Fatalf("score %d fired %v", res.Score, res.Fired)
	}
	for _, bad := range []string{`distance(lat, lon, "x", 1) > 0`, `distance(lat) > 0`, `in_list(country)`, `in_list("a", "b")`} {
		if _, err := rules.Compile("bad.yaml", []byte("thresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: x, when: '"+bad+"', score: 1}\n")); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
}
