//go:build !race

package rules_test

import (
	"testing"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// TestEvaluateAllocations guards rule evaluation: the built-in set (native), the same set on the VM, and a set
// of rules the native compiler leaves to the VM allocate nothing per evaluation.
func TestEvaluateAllocations(t *testing.T) {
	def, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	vmRules, err := rules.Compile("vm.yaml", []byte(`thresholds: {step_up: 40, deny: 80}
rules:
  - {id: ternary, when: "(is_tor ? 1 : 2.5) > 0", score: 10}
  - {id: fails, when: "asn % hour == 0", score: 10}
  - {id: set, when: "country in ['RU', 'KP'] && asn > 0", score: 10}
`))
	if err != nil {
		t.Fatal(err)
	}
	if vmRules.NativeRules() != 1 {
		t.Fatalf("%d native rules in the VM set, want 1", vmRules.NativeRules())
	}
	for _, c := range []struct {
		name string
		set  *rules.Set
	}{{"native", def}, {"vm", rules.VMOnly(def)}, {"fallback", vmRules}} {
		e := rules.NewEvaluator()
		e.Vector = typicalVector()
		var res rules.Result
		eval := func() { c.set.Evaluate(e, features.Login, &res) }
		eval()
		if n := testing.AllocsPerRun(1000, eval); n != 0 {
			t.Errorf("%s: Evaluate allocates %.1f times per call, want 0", c.name, n)
		}
	}
}
