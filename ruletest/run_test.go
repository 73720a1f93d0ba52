package ruletest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/ruletest"
)

func compile(t *testing.T, src string) *rules.Set {
	t.Helper()
	set, err := rules.Compile("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestFailuresAreExplained: a failed case says what was expected, what happened, and for a missing reason what
// happened to its rule; Err lists every failed case with file and line.
func TestFailuresAreExplained(t *testing.T) {
	set := compile(t, `thresholds: {step_up: 40, deny: 80}
rules:
  - {id: new_country, when: new_country, score: 20}
  - {id: tor, when: is_tor, score: 60}
  - {id: tor_watch, when: is_tor, action: deny, mode: shadow}
  - {id: vpn, when: is_vpn, score: 30, events: [checkout]}
tenants:
  brand-a: {disable: [new_country]}
tests:
  - name: passes
    when: {type: login, user_id: a, ip: 65.0.0.1, timestamp: now}
    expect: {decision: step_up, reasons: [tor]}
  - name: wrong decision and shadow reason
    when: {type: login, user_id: a, ip: 65.0.0.1, timestamp: now}
    expect: {decision: deny, reasons: [tor_watch], score_at_most: 50}
  - name: disabled and other event type
    given:
      - {type: login, user_id: b, tenant: brand-a, ip: 216.160.83.56, credentials_valid: true, timestamp: -2d}
    when: {type: login, user_id: b, tenant: brand-a, ip: 1.124.213.1, timestamp: now}
    expect: {reasons: [new_country, vpn], not_reasons: [tor]}
  - name: misspelt code
    when: {type: login, user_id: c, ip: 65.0.0.1, timestamp: now}
    expect: {not_reasons: [tor_exitt]}
`)
	rep := ruletest.Run(set, ruletest.Options{Geo: testGeo(t)})
	if rep.Passed != 1 || rep.Failed != 3 || rep.OK() {
		t.Fatalf("passed %d failed %d", rep.Passed, rep.Failed)
	}
	text := report(rep)
	for _, want := range []string{
		"✓ passes (t.yaml:10)",
		"✗ wrong decision and shadow reason (t.yaml:13)",
		"want: decision deny; reasons tor_watch; score ≤ 50",
		"got:  decision step_up, score 60, reasons tor",
		"- decision is step_up, want deny",
		"- reason tor_watch is missing (rule tor_watch fired in shadow mode, which gives no reason)",
		"- score is 60, want at most 50",
		"- reason new_country is missing (rule new_country did not apply: disabled for this tenant)",
		"- reason vpn is missing (rule vpn did not apply: other event type)",
		"- reason tor is there, want it absent",
		`- expect.not_reasons: "tor_exitt" is no rule's code or id in this set`,
		"1 passed, 3 failed",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
	err := rep.Err()
	if !errors.Is(err, ruletest.ErrFailed) || !strings.Contains(err.Error(), `3 of 4 tests failed`) ||
		!strings.Contains(err.Error(), `t.yaml:16: test "disabled and other event type": reason new_country is missing`) {
		t.Fatalf("Err: %v", err)
	}
}

// TestCasesAreIndependent: every case starts from empty state, so what one case teaches cannot make another
// pass or fail.
func TestCasesAreIndependent(t *testing.T) {
	set := compile(t, `thresholds: {step_up: 40, deny: 80}
rules:
  - {id: new_device, when: new_device, score: 25}
tests:
  - name: learns a device, then sees a new one
    given:
      - {type: login, user_id: a, ip: 216.160.83.56, device_id: laptop, credentials_valid: true, timestamp: -1h}
    when: {type: login, user_id: a, ip: 216.160.83.56, device_id: phone, credentials_valid: true, timestamp: now}
    expect: {reasons: [new_device]}
  - name: the same user is unknown again
    when: {type: login, user_id: a, ip: 216.160.83.56, device_id: phone, credentials_valid: true, timestamp: now}
    expect: {not_reasons: [new_device], score: 0}
`)
	if rep := ruletest.Run(set, ruletest.Options{Geo: testGeo(t)}); !rep.OK() {
		t.Fatalf("\n%s", report(rep))
	}
}

// TestClockAndRepeat: relative timestamps count from Options.Now, repeat replays a step with {i} numbered, and
// a step riskd would refuse (older than the retention) fails its case, naming the step.
func TestClockAndRepeat(t *testing.T) {
	set := compile(t, `thresholds: {step_up: 40, deny: 80}
rules:
  - {id: three_am, when: hour == 3, score: 1}
  - {id: many_users, when: ip_attempts_1m >= 5 && user_attempts_1h == 0, score: 2}
tests:
  - name: clock
    when: {type: login, user_id: a, ip: 89.160.20.112, timestamp: -30m}
    expect: {reasons: [three_am], not_reasons: [many_users]}
  - name: repeat numbers users
    given:
      - {type: login, user_id: "u-{i}", ip: 89.160.20.112, timestamp: -10s, repeat: 5}
    when: {type: login, user_id: u-1x, ip: 89.160.20.112, timestamp: now}
    expect: {reasons: [many_users]}
  - name: too old
    given:
      - {type: login, user_id: a, ip: 89.160.20.112, timestamp: -200d}
    when: {type: login, user_id: a, ip: 89.160.20.112, timestamp: now}
    expect: {decision: allow}
`)
	clock := func() time.Time { return time.Date(2026, 5, 1, 3, 45, 0, 0, time.UTC) }
	rep := ruletest.Run(set, ruletest.Options{Now: clock})
	if rep.Passed != 2 || rep.Failed != 1 || !strings.Contains(report(rep), "given[0] (line 16): timestamp is older than the retention period") {
		t.Fatalf("\n%s", report(rep))
	}
}
