package rules_test

import (
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/rules"
)

const signalsBase = `
version: t
thresholds: {step_up: 40, deny: 80}
rules:
  - id: many_users
    when: ip_users_10m >= 20
    score: 30
  - id: tor
    when: is_tor
    score: 60
`

func TestSignalsBlock(t *testing.T) {
	set, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	m := set.Signals
	if m.FraudLevel != rules.RiskHigh || m.DenyLevel != rules.RiskMedium || m.Decay != 24*time.Hour ||
		strings.Join(m.StuffingRules, ",") != "ip_credential_stuffing,ip_many_users" {
		t.Fatalf("the default set's model: %+v", m)
	}

	set, err = rules.Compile("t.yaml", []byte(signalsBase+`
signals:
  stuffing_rules: [many_users]
  deny_level: high
  mfa_failures: 5
  mfa_window: 30m
  decay: "0"
`))
	if err != nil {
		t.Fatal(err)
	}
	m = set.Signals
	if m.DenyLevel != rules.RiskHigh || m.MFAFailures != 5 || m.MFAWindow != 30*time.Minute || m.Decay != 0 ||
		len(m.StuffingRules) != 1 || !set.Rules[0].Stuffing || set.Rules[1].Stuffing {
		t.Fatalf("model %+v, stuffing flags %v %v", m, set.Rules[0].Stuffing, set.Rules[1].Stuffing)
	}

	// Without a signals block the default stuffing rules absent from the set are left out, not refused.
	set, err = rules.Compile("t.yaml", []byte(signalsBase))
	if err != nil || len(set.Signals.StuffingRules) != 0 {
		t.Fatalf("%v %+v", err, set.Signals)
	}

	for _, bad := range []struct{ block, want string }{
		{"  stuffing_rules: [nope]", `stuffing_rules: no rule "nope"`},
		{"  deny_level: severe", `deny_level: "severe" is not a risk level`},
		{"  mfa_failures: 0", "mfa_failures: 0"},
		{"  decay: soon", `decay: "soon" is not a duration`},
		{"  colour: red", "colour"},
	} {
		_, err := rules.Compile("t.yaml", []byte(signalsBase+"signals:\n"+bad.block+"\n"))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want one saying %s", bad.block, err, bad.want)
		}
	}
}
