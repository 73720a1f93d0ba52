package ruletest_test

import (
	"strings"
	"testing"

	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/ruletest"
)

// TestExtensionRunsBaseTests: the built-in set's tests run against a set that extends it, with no GeoIP
// databases (the base declares its addresses' geography). An extension that breaks one fails it, until it
// replaces or drops that test by name.
func TestExtensionRunsBaseTests(t *testing.T) {
	base, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	weakTor := "extends: builtin\nrules:\n  - {id: tor_exit, when: is_tor, score: 10}\n"
	set, err := rules.Compile("weak-tor.yaml", []byte(weakTor))
	if err != nil {
		t.Fatal(err)
	}
	rep := ruletest.Run(set, ruletest.Options{})
	if rep.Failed != 1 || len(rep.Cases) != len(base.Tests) || !strings.Contains(report(rep), "✗ a login from Tor is not allowed (built-in:") {
		t.Fatalf("want the base's Tor case to fail, alone:\n%s", report(rep))
	}

	for name, fix := range map[string]string{
		"dropped":  "disable_tests: [a login from Tor is not allowed]\n",
		"replaced": "tests:\n  - name: a login from Tor is not allowed\n    when: {type: login, user_id: bo, ip: 65.0.0.1, timestamp: now}\n    expect: {decision: allow, reasons: [tor_exit], score: 10}\n",
	} {
		set, err := rules.Compile("weak-tor.yaml", []byte(weakTor+fix))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rep := ruletest.Run(set, ruletest.Options{}); !rep.OK() {
			t.Errorf("%s:\n%s", name, report(rep))
		}
	}
}
