package rules_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

func TestDefaultCompiles(t *testing.T) {
	set, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules) == 0 || set.Version == "" || set.Source != rules.DefaultSource {
		t.Fatalf("default set: %d rules, version %q, source %q", len(set.Rules), set.Version, set.Source)
	}
}

func TestCompileErrorsNameFileLineAndRule(t *testing.T) {
	src := `version: t
thresholds: {step_up: 40, deny: 80}
rules:
  - id: ok_rule
    when: is_tor
    score: 10
  - id: typo_field
    when: is_torr
    score: 10
  - id: not_bool
    when: asn + 1
    score: 10
  - id: both
    when: is_vpn
    score: 10
    action: deny
  - id: ok_rule
    when: is_vpn
    score: 5
  - id: bad_event
    when: is_vpn
    score: 5
    events: [logon]
  - id: wall_clock
    when: now().Year() > 2000
    score: 5
`
	_, err := rules.Compile("test.yaml", []byte(src))
	if !errors.Is(err, rules.ErrCompile) {
		t.Fatalf("err = %v, want ErrCompile", err)
	}
	for _, want := range []string{
		`test.yaml:7: rule "typo_field": when:`,
		`test.yaml:10: rule "not_bool": when:`,
		`test.yaml:13: rule "both": has both score and action`,
		`test.yaml:17: rule "ok_rule": duplicate id (first at line 4)`,
		`test.yaml:20: rule "bad_event": events: unknown event type "logon"`,
		`test.yaml:24: rule "wall_clock": when:`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestParseIsStrict(t *testing.T) {
	for name, src := range map[string]string{
		"unknown rule key": "thresholds: {step_up: 40, deny: 80}\nrules:\n  - id: a\n    when: is_tor\n    scor: 5\n",
		"unknown top key":  "thresholds: {step_up: 40, deny: 80}\nrule: []\n",
		"two documents":    "thresholds: {step_up: 40, deny: 80}\n---\nrules: []\n",
		"empty":            "",
		"bad thresholds":   "thresholds: {step_up: 80, deny: 40}\nrules: []\n",
	} {
		if _, err := rules.Compile("x.yaml", []byte(src)); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
}

func evaluate(t *testing.T, src string, v features.Vector, et features.EventType) rules.Result {
	t.Helper()
	set, err := rules.Compile("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	e := rules.NewEvaluator()
	e.Vector = v
	var res rules.Result
	set.Evaluate(e, et, &res)
	return res
}

const scoring = `thresholds: {step_up: 40, deny: 80}
rules:
  - {id: tor, when: is_tor, score: 60}
  - {id: vpn, when: is_vpn, score: 30}
  - {id: trusted, when: trusted_device, score: -20}
  - {id: login_only, when: "country == 'CN'", score: 25, events: [login]}
  - {id: blocked, when: "asn == 666", action: deny}
  - {id: allowlisted, when: "asn == 777", action: allow}
  - {id: watch, when: "asn == 777 || asn == 666", action: deny, mode: shadow}
  - {id: review, when: "amount > 500", action: step_up}
`

func TestEvaluateScoresActionsAndThresholds(t *testing.T) {
	cases := []struct {
		name  string
		v     features.Vector
		et    features.EventType
		score int
		act   rules.Action
		fired int
	}{
		{"nothing", features.Vector{}, features.Login, 0, rules.Allow, 0},
		{"vpn below step-up", features.Vector{IsVPN: true}, features.Login, 30, rules.Allow, 1},
		{"tor steps up", features.Vector{IsTor: true}, features.Login, 60, rules.StepUp, 1},
		{"tor and vpn denied", features.Vector{IsTor: true, IsVPN: true}, features.Login, 90, rules.Deny, 2},
		{"trusted lowers", features.Vector{IsTor: true, TrustedDevice: true}, features.Login, 40, rules.StepUp, 2},
		{"negative clamps to 0", features.Vector{TrustedDevice: true}, features.Login, 0, rules.Allow, 1},
		{"event filter applies", features.Vector{Country: "CN", IsVPN: true}, features.Login, 55, rules.StepUp, 2},
		{"event filter skips", features.Vector{Country: "CN", IsVPN: true}, features.Checkout, 30, rules.Allow, 1},
		{"deny action beats score", features.Vector{ASN: 666}, features.Login, 0, rules.Deny, 2},
		{"allow action beats score", features.Vector{ASN: 777, IsTor: true, IsVPN: true}, features.Login, 90, rules.Allow, 4},
		{"step_up action", features.Vector{Amount: 900}, features.Checkout, 0, rules.StepUp, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := evaluate(t, scoring, c.v, c.et)
			if res.Score != c.score || res.Action != c.act || len(res.Fired) != c.fired {
				t.Fatalf("score %d action %v fired %v, want %d %v %d", res.Score, res.Action, res.Fired, c.score, c.act, c.fired)
			}
		})
	}
}

func TestEvaluatorReusesVector(t *testing.T) {
	set, err := rules.Compile("t.yaml", []byte(scoring))
	if err != nil {
		t.Fatal(err)
	}
	e := rules.NewEvaluator()
	var res rules.Result
	for i := range 10 {
		e.Vector = features.Vector{IsTor: i%2 == 0}
		set.Evaluate(e, features.Login, &res)
		if want := i%2 == 0; (res.Score == 60) != want {
			t.Fatalf("iteration %d: score %d; the evaluator did not see the refilled vector", i, res.Score)
		}
	}
}

func FuzzCompile(f *testing.F) {
	f.Add([]byte(scoring))
	f.Add([]byte("thresholds: {step_up: 1, deny: 2}\nrules:\n  - {id: a, when: 'asn > 1 && country in [\"US\"]', score: 1}\n"))
	f.Add([]byte("rules: [{id: x, when: '1/0 > 0', score: 1}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := rules.Compile("fuzz.yaml", data)
		if err != nil {
			return
		}
		// Whatever compiles must evaluate without panicking.
		e := rules.NewEvaluator()
		var res rules.Result
		set.Evaluate(e, features.Login, &res)
		if res.Score < 0 || res.Score > 100 {
			t.Fatalf("score %d out of range", res.Score)
		}
	})
}
