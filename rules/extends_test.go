package rules_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

func ruleByID(s *rules.Set, id string) *rules.Rule {
	for i := range s.Rules {
		if s.Rules[i].ID == id {
			return &s.Rules[i]
		}
	}
	return nil
}

func testNames(s *rules.Set) []string {
	var out []string
	for _, t := range s.Tests {
		out = append(out, t.Name)
	}
	return out
}

// TestExtendsBuiltin: a file that extends the built-in set holds only what it changes. A rule of the same id
// replaces the base's, disable removes base rules, thresholds merge value by value, a tenant's overlay is
// added, and the base's tests come along except those replaced or dropped.
func TestExtendsBuiltin(t *testing.T) {
	base, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Compile("brand.yaml", []byte(`extends: builtin
version: brand-1
thresholds:
  deny: 90
  events: {checkout: {step_up: 30}}
disable: [hosting_network]
disable_tests: [a login from Tor is not allowed]
rules:
  - {id: new_device, description: A new device; this brand sees many., when: new_device, score: 10}
  - {id: gift_cards, when: event == "checkout" && amount >= 500, action: step_up}
tenants:
  brand-a:
    disable: [new_country]
tests:
  - name: a gift card checkout steps up
    when: {type: checkout, user_id: u, ip: 216.160.83.56, amount: 600, currency: EUR, timestamp: now}
    expect: {decision: step_up, reasons: [gift_cards]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if set.Version != "brand-1" || set.Extends != "builtin" {
		t.Errorf("version %q extends %q", set.Version, set.Extends)
	}
	if r := ruleByID(set, "new_device"); r == nil || r.Score != 10 || r.File != "brand.yaml" {
		t.Errorf("new_device = %+v, want the extension's (score 10)", r)
	}
	if r := ruleByID(set, "gift_cards"); r == nil || r.Action != rules.StepUp {
		t.Errorf("gift_cards = %+v, want added", r)
	}
	if ruleByID(set, "hosting_network") != nil {
		t.Error("hosting_network is still in the set after disable")
	}
	if ruleByID(set, "tor_exit") == nil || len(set.Rules) != len(base.Rules) {
		t.Errorf("%d rules, want the base's %d (one replaced, one removed, one added)", len(set.Rules), len(base.Rules))
	}
	if got := set.ThresholdsFor("", features.Login); got != (rules.Thresholds{StepUp: 40, Deny: 90}) {
		t.Errorf("login thresholds %+v, want step_up 40 from the base and deny 90 from the extension", got)
	}
	if got := set.ThresholdsFor("", features.Checkout); got != (rules.Thresholds{StepUp: 30, Deny: 90}) {
		t.Errorf("checkout thresholds %+v", got)
	}
	if got := set.Disabled("brand-a"); !slices.Equal(got, []string{"new_country"}) {
		t.Errorf("brand-a disables %v", got)
	}
	names := testNames(set)
	if len(names) != len(base.Tests) || slices.Contains(names, "a login from Tor is not allowed") || !slices.Contains(names, "a gift card checkout steps up") {
		t.Errorf("tests %q: want the base's but the dropped one, and the extension's", names)
	}
	if len(set.TestAddresses) != len(base.TestAddresses) {
		t.Errorf("%d test addresses, want the base's %d", len(set.TestAddresses), len(base.TestAddresses))
	}
}

// TestSetAsYAMLStream: one body of several YAML documents is a set of several files, as the API takes it; an
// extension and its tests may be separate documents.
func TestSetAsYAMLStream(t *testing.T) {
	set, err := rules.Compile("request", []byte(`extends: builtin
rules:
  - {id: gift_cards, when: event == "checkout" && amount >= 500, action: step_up}
---
tests:
  - name: a gift card checkout steps up
    when: {type: checkout, user_id: u, ip: 216.160.83.56, amount: 600, currency: EUR, timestamp: now}
    expect: {decision: step_up, reasons: [gift_cards]}
---
`))
	if err != nil {
		t.Fatal(err)
	}
	if ruleByID(set, "gift_cards") == nil || !slices.Contains(testNames(set), "a gift card checkout steps up") {
		t.Errorf("the stream's documents are not one set: %d rules, tests %q", len(set.Rules), testNames(set))
	}
	if !strings.HasPrefix(set.Version, "sha256:") {
		t.Errorf("version %q, want a digest", set.Version)
	}
	// Errors are at the lines of the stream.
	_, err = rules.Compile("request", []byte("extends: builtin\n---\nrules:\n  - {id: x, when: is_torr, score: 1}\n"))
	if err == nil || !strings.Contains(err.Error(), `request:4: rule "x": when: unknown name is_torr`) {
		t.Errorf("err = %v", err)
	}
}

// TestExtendsErrors: what an extension cannot say is an error at its line, never silently ignored.
func TestExtendsErrors(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"unknown base":        {"extends: production\nrules: []\n", `x.yaml:1: extends: "production": unknown base rule set`},
		"disable of no rule":  {"extends: builtin\ndisable: [new_contry]\n", `x.yaml:2: disable: no rule "new_contry" in the set this one extends`},
		"disable, no extends": {"thresholds: {step_up: 40, deny: 80}\ndisable: [tor_exit]\n", `x.yaml:2: disable: removes rules of the set this one extends`},
		"dropped test typo":   {"extends: builtin\ndisable_tests: [a login from tor]\n", `x.yaml:2: disable_tests: no test "a login from tor"`},
		"disable and define":  {"extends: builtin\ndisable: [tor_exit]\nrules: [{id: tor_exit, when: is_tor, score: 1}]\n", `x.yaml:2: disable: "tor_exit" is also a rule of this set`},
		"extends twice":       {"extends: builtin\n---\nextends: builtin\n", `x.yaml:3: extends: also given at x.yaml:1`},
		"bad thresholds":      {"extends: builtin\nthresholds: {step_up: 95}\n", `thresholds: want 0 < step_up < deny <= 100, got step_up=95 deny=80`},
	} {
		_, err := rules.Compile("x.yaml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

// TestExtendsResolvesOtherSets: a caller's Bases resolves names other than builtin (the control plane's
// versions); a chain of extensions layers in order, and a cycle is an error.
func TestExtendsResolvesOtherSets(t *testing.T) {
	stored := map[string]string{
		"team":  "extends: builtin\nrules: [{id: tor_exit, when: is_tor, score: 70}]\n",
		"loopa": "extends: loopb\n",
		"loopb": "extends: loopa\n",
	}
	bases := func(name string) ([]rules.Source, error) {
		src, ok := stored[name]
		if !ok {
			return nil, fmt.Errorf("%w: %s", rules.ErrUnknownBase, name)
		}
		return []rules.Source{{Name: name, Data: []byte(src)}}, nil
	}
	set, err := rules.CompileSourcesWith("mine", []rules.Source{{Name: "mine", Data: []byte("extends: team\nthresholds: {deny: 85}\n")}}, bases)
	if err != nil {
		t.Fatal(err)
	}
	if r := ruleByID(set, "tor_exit"); r == nil || r.Score != 70 || set.Thresholds.Deny != 85 || set.Thresholds.StepUp != 40 {
		t.Errorf("tor_exit %+v, thresholds %+v", r, set.Thresholds)
	}
	_, err = rules.CompileSourcesWith("mine", []rules.Source{{Name: "mine", Data: []byte("extends: loopa\n")}}, bases)
	if err == nil || !strings.Contains(err.Error(), "a cycle") {
		t.Errorf("cycle: err = %v", err)
	}
	_, err = rules.CompileSourcesWith("mine", []rules.Source{{Name: "mine", Data: []byte("extends: nope\n")}}, bases)
	if !errors.Is(err, rules.ErrCompile) || !strings.Contains(err.Error(), "unknown base rule set") {
		t.Errorf("unknown: err = %v", err)
	}
}
