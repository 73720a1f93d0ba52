//go:build !race

package rules_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// TestEvaluateAllocations guards rule evaluation: the built-in set (native), the same set on the VM, a set of
// rules the native compiler leaves to the VM, and a tenant's view with expiring rules allocate nothing per
// evaluation.
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
	tenants, err := rules.Compile("tenants.yaml", []byte(overlaid))
	if err != nil {
		t.Fatal(err)
	}
	var many strings.Builder
	many.WriteString("thresholds: {step_up: 40, deny: 80}\nrules: [{id: base, when: is_tor, score: 10}]\ntenants:\n")
	for i := range 40 {
		fmt.Fprintf(&many, "  t%d: {rules: [{id: r%d, when: is_vpn, score: 5}]}\n", i, i)
	}
	manyTenants, err := rules.Compile("many.yaml", []byte(many.String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		set  *rules.Set
		in   rules.Input
	}{
		{"native", def, rules.Input{Type: features.Login, Tenant: "default"}},
		{"vm", rules.VMOnly(def), rules.Input{Type: features.Login, Tenant: "default"}},
		{"fallback", vmRules, rules.Input{Type: features.Login}},
		{"tenant overlay with expiry", tenants, rules.Input{Type: features.Checkout, Tenant: "brand-a", Time: 1}},
		{"tenant without overlay", tenants, rules.Input{Type: features.Login, Tenant: "brand-z", Time: 1}},
		{"one of 40 tenants", manyTenants, rules.Input{Type: features.Login, Tenant: "t39"}},
	} {
		e := rules.NewEvaluator()
		e.Vector = typicalVector()
		var res rules.Result
		eval := func() { c.set.Evaluate(e, c.in, &res) }
		eval()
		if n := testing.AllocsPerRun(1000, eval); n != 0 {
			t.Errorf("%s: Evaluate allocates %.1f times per call, want 0", c.name, n)
		}
	}
}
