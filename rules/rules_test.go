package rules_test

import (
	"errors"
	"strings"
	"testing"
	"time"

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
		// Each at the line of the key at fault; a duplicate id at the rule.
		`test.yaml:8: rule "typo_field": when:`,
		`test.yaml:11: rule "not_bool": when:`,
		`test.yaml:16: rule "both": has both score and action`,
		`test.yaml:17: rule "ok_rule": duplicate id (first at line 4)`,
		`test.yaml:23: rule "bad_event": events: unknown event type "logon"`,
		`test.yaml:25: rule "wall_clock": when:`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestParseIsStrict(t *testing.T) {
	for name, src := range map[string]string{
		"unknown rule key":            "thresholds: {step_up: 40, deny: 80}\nrules:\n  - id: a\n    when: is_tor\n    scor: 5\n",
		"unknown top key":             "thresholds: {step_up: 40, deny: 80}\nrule: []\n",
		"two documents, one misspelt": "thresholds: {step_up: 40, deny: 80}\n---\nrule: []\n",
		"empty":                       "",
		"bad thresholds":              "thresholds: {step_up: 80, deny: 40}\nrules: []\n",
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
	set.Evaluate(e, rules.Input{Type: et}, &res)
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
		set.Evaluate(e, rules.Input{Type: features.Login}, &res)
		if want := i%2 == 0; (res.Score == 60) != want {
			t.Fatalf("iteration %d: score %d; the evaluator did not see the refilled vector", i, res.Score)
		}
	}
}

// FuzzCompile feeds the rule-file loader arbitrary input, seeded with every kind of key it knows: rules,
// per-event thresholds, tenant overlays (disable, thresholds, rules), expiry and tests. Whatever compiles must
// evaluate without panicking for every tenant, event type and time, fire only rules that apply, and decide
// with sensible thresholds.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(scoring))
	f.Add([]byte(overlaid))
	f.Add([]byte("thresholds: {step_up: 1, deny: 2}\nrules:\n  - {id: a, when: 'asn > 1 && country in [\"US\"]', score: 1}\n"))
	f.Add([]byte("rules: [{id: x, when: '1/0 > 0', score: 1}]"))
	f.Add([]byte(`thresholds: {step_up: 40, deny: 80, events: {checkout: {step_up: 30}, login: {deny: 90}}}
rules:
  - {id: a, when: is_tor, score: 60, expires: 2026-01-01}
  - {id: b, when: new_device, score: 25, mode: shadow, events: [login]}
tenants:
  t1: {disable: [a], thresholds: {step_up: 10, events: {login: {step_up: 50}}}, rules: [{id: c, when: is_vpn, action: deny}]}
  t2: {thresholds: {deny: 95}}
tests:
  - name: x
    now: 2026-03-01T00:00:00Z
    given: [{type: login, user_id: u, ip: 1.2.3.4, timestamp: -2h, repeat: 3}, {outcome: mfa_passed, user_id: u, timestamp: -1h}]
    when: {type: checkout, user_id: u, ip: 1.2.3.4, tenant: t1, amount: 5, currency: EUR, timestamp: now}
    expect: {decision: allow, reasons: [c], not_reasons: [a], score_at_least: 0, score_at_most: 50}
`))
	f.Add([]byte(`extends: builtin
version: x
thresholds: {deny: 90, events: {checkout: {step_up: 30}}}
disable: [hosting_network]
disable_tests: [a login from Tor is not allowed]
rules: [{id: new_device, when: new_device, score: 5}]
tenants: {b: {disable: [tor_exit], rules: [{id: z, when: is_vpn, score: 1}]}}
addresses:
  192.0.2.1: {country: FR, city: Paris, lat: 48.85, lon: 2.35, asn: 3215, is_vpn: true}
---
tests: [{name: y, when: {type: login, user_id: u, ip: 192.0.2.1, timestamp: now}, expect: {decision: allow}}]
---
`))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := rules.Compile("fuzz.yaml", data)
		if err != nil {
			return
		}
		e := rules.NewEvaluator()
		e.Vector = features.Vector{IsTor: true, IsVPN: true, NewDevice: true, ASN: 2, Country: "US", Amount: 5}
		var res rules.Result
		for _, tenant := range append(set.Tenants(), "", "nobody") {
			for et := features.EventType(0); et <= features.NumEventTypes; et++ {
				for _, at := range []int64{0, 1, time.Now().UnixNano()} {
					in := rules.Input{Type: et, Tenant: tenant, Time: at}
					set.Evaluate(e, in, &res)
					if res.Score < 0 || res.Score > 100 {
						t.Fatalf("score %d out of range", res.Score)
					}
					if th := res.Thresholds; th.StepUp <= 0 || th.StepUp >= th.Deny || th.Deny > 100 {
						t.Fatalf("%+v: thresholds %+v", in, th)
					}
					for _, i := range res.Fired {
						if a := set.Applies(i, in); a != rules.Applies {
							t.Fatalf("%+v: rule %s fired but %v", in, set.Rules[i].ID, a)
						}
					}
				}
			}
		}
	})
}

func TestReasonTemplates(t *testing.T) {
	set, err := rules.Compile("t.yaml", []byte(`thresholds: {step_up: 40, deny: 80}
rules:
  - {id: far, when: travel_km > 1, reason: "{travel_km} km in {since_last_login_h} h from {country}, tor={is_tor}, {ip_failures_1m} failures", score: 1}
  - {id: plain, when: is_tor, reason: "no placeholders", score: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	v := features.Vector{TravelKm: 7712.4, SinceLastLoginH: 0.333, Country: "US", IPFailures1m: 3}
	got := string(set.Rules[0].Template.Append(nil, &v))
	if got != "7712 km in 0.33 h from US, tor=false, 3 failures" {
		t.Fatalf("%q", got)
	}
	if set.Rules[1].Template != nil {
		t.Fatal("a static message got a template")
	}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf = set.Rules[0].Template.Append(buf[:0], &v) }); n != 0 {
		t.Fatalf("formatting into a buffer with room allocates %v times", n)
	}
	for _, bad := range []string{"{nope} km", "{travel_km km"} {
		if _, err := rules.Compile("bad.yaml", []byte("thresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: x, when: is_tor, reason: \""+bad+"\", score: 1}\n")); err == nil {
			t.Errorf("reason %q compiled", bad)
		}
	}
}

// TestDuplicateKeysHideNothing: a key given twice is an error at its second line, and the rest of the mapping
// is still checked (yaml.v3 alone gives up on the whole mapping, hiding the errors after it).
func TestDuplicateKeysHideNothing(t *testing.T) {
	_, err := rules.Compile("d.yaml", []byte(`thresholds: {step_up: 40, deny: 80}
rules:
  - id: a
    when: is_tor
    score: 1
    score: 2
  - {id: b, when: is_torr, score: 1}
`))
	for _, want := range []string{`d.yaml:6: rule file syntax: rule "a": key "score" already given at line 5`, `d.yaml:7: rule "b": when: unknown name is_torr`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "thresholds: missing") {
		t.Errorf("the duplicate hid the thresholds: %v", err)
	}
}
