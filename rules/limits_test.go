package rules_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// TestRulesCannotRunUnbounded: a rule is a predicate over one event. An expression whose work or memory
// would grow with values is refused at compile time, with the file, line, rule and what is not allowed; the
// rules around it still compile, and a set of fine rules still evaluates. The first case is the reproduction
// that killed `riskd check` and the server with Go's unrecoverable out-of-memory error.
func TestRulesCannotRunUnbounded(t *testing.T) {
	refused := []struct{ when, want string }{
		{`len(repeat(repeat("a", 999999), 999999)) > 0`, `repeat() is not allowed in rules: the size of the string it builds depends on its arguments`},
		{`repeat(country, asn) != ""`, `repeat() is not allowed`},
		{`len(1..100000000) > 0`, `range 1..100000000 has 100000000 elements, at most 100000`},
		{`len(1..asn) > 0`, `a range needs constant bounds (1..asn)`},
		{`len(-9223372036854775807 - 1..9223372036854775807) > 0`, `has 2^64 elements, at most 100000`},
		{`len(-2..9223372036854775807) > 0`, `has 9223372036854775810 elements`},
		{`len(map(1..5000, map(1..5000, #))) > 0`, `too costly: up to 300115017 steps per event, at most 100000`},
		{`all(1..1000, all(1..1000, # > 0))`, `too costly`},
		{`any(1..3, any(1..3, any(1..3, any(1..3, any(1..3, # > 0)))))`, `predicates nest at most 4 deep`},
		{`country matches city`, `matches needs a constant pattern in quotes, not city`},
		{`ua_browser matches (country + ".*")`, `matches needs a constant pattern`},
		{`reduce(1..40, #acc + #acc, "a") != ""`, `reduce() is not allowed in rules`},
		{`let a = city + city; let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; len(f + f) > 0`, `too costly`},
		{`len(replace(replace(replace(city, "", "0123456789"), "", "0123456789"), "", "0123456789")) > 0`, `too costly`},
		{`len(join(split(city, ""), city)) > 0`, `too costly`},
		{`fromJSON(city) != nil`, `fromJSON() is not allowed`},
		{`len(toBase64(city)) > 0`, `toBase64() is not allowed in rules`},
		{`date("2026-01-01") != nil`, `date() is not allowed`},
		{`now().Year() > 2000`, `now`},
	}
	var b strings.Builder
	b.WriteString("thresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: fine, when: \"is_tor\", score: 10}\n")
	for i, c := range refused {
		fmt.Fprintf(&b, "  - {id: hostile_%d, when: %q, score: 50}\n", i, c.when)
	}
	_, err := rules.Compile("limits.yaml", []byte(b.String()))
	if err == nil {
		t.Fatal("hostile rules compiled")
	}
	if !errors.Is(err, rules.ErrCompile) {
		t.Fatalf("%v does not wrap ErrCompile", err)
	}
	for i, c := range refused {
		prefix := fmt.Sprintf("limits.yaml:%d: rule \"hostile_%d\": when: ", i+4, i)
		line := ""
		for _, l := range strings.Split(err.Error(), "\n") {
			if strings.HasPrefix(l, prefix) {
				line = l
			}
		}
		if line == "" || !strings.Contains(line, c.want) {
			t.Errorf("%s: want a line %q…%q, got\n%v", c.when, prefix, c.want, err)
		}
	}
	if strings.Contains(err.Error(), `"fine"`) {
		t.Fatalf("the fine rule was refused: %v", err)
	}

	// What stays allowed still evaluates, a predicate over a field's pieces among it.
	set, err := rules.Compile("fine.yaml", []byte(`thresholds: {step_up: 40, deny: 80}
rules:
  - {id: small_range, when: "len(1..1000) == 1000 && hour in 0..100000000", score: 10}
  - {id: pieces, when: 'any(split(city, " "), # == "York")', score: 10}
  - {id: pattern, when: 'ua_browser matches "^(Chrome|Firefox)$"', score: 10}
  - {id: fine, when: "is_tor", score: 10}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := rules.NewEvaluator()
	e.Vector = features.Vector{IsTor: true, City: "New York", UABrowser: "Chrome", Hour: 3}
	var res rules.Result
	set.Evaluate(e, rules.Input{Type: features.Login}, &res)
	if res.Errors != 0 || res.Score != 40 || len(res.Fired) != 4 {
		t.Fatalf("errors %d score %d fired %v", res.Errors, res.Score, res.Fired)
	}

	long := "asn == 1" + strings.Repeat(" || asn == 1", 600)
	if _, err := rules.Compile("big.yaml", []byte("thresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: big, when: \""+long+"\", score: 1}\n")); err == nil {
		t.Fatal("an expression of 1,200 nodes compiled")
	}
	huge := `city == "` + strings.Repeat("x", 20<<10) + `"`
	if _, err := rules.Compile("huge.yaml", []byte("thresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: huge, when: '"+huge+"', score: 1}\n")); err == nil ||
		!strings.Contains(err.Error(), `huge.yaml:3: rule "huge": when: 20490 bytes, at most 16384`) {
		t.Fatalf("a 20 KiB expression: %v", err)
	}
	for _, when := range []string{"now().Year() > 2000", "date('2026-01-01') < now()"} {
		if _, err := rules.Compile("clock.yaml", []byte("thresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: clock, when: \""+when+"\", score: 1}\n")); err == nil {
			t.Fatalf("%q compiled: rules must not read the wall clock", when)
		}
	}
}

// TestSetCostIsBounded: rules each within their own bound can still be too costly together, or with the
// events of the set's tests.
func TestSetCostIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("thresholds: {step_up: 40, deny: 80}\nrules:\n")
	for i := range 40 {
		fmt.Fprintf(&b, "  - {id: r%d, when: 'count(1..10000, # %% 7 == hour) > 2', score: 1}\n", i)
	}
	_, err := rules.Compile("many.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "many.yaml: rules: up to") || !strings.Contains(err.Error(), "at most 500000") {
		t.Fatalf("40 rules of ~80,000 steps: %v", err)
	}

	// Tests replay their events through every rule: 5 rules of ~80,000 steps and 30,000 events are too much.
	b.Reset()
	b.WriteString("thresholds: {step_up: 40, deny: 80}\nrules:\n")
	for i := range 5 {
		fmt.Fprintf(&b, "  - {id: r%d, when: 'count(1..10000, # %% 7 == hour) > 2', score: 1}\n", i)
	}
	b.WriteString(`tests:
  - name: many events
    given:
      - {type: login, user_id: "u{i}", ip: 192.0.2.1, timestamp: -1h, repeat: 10000}
      - {type: login, user_id: "v{i}", ip: 192.0.2.1, timestamp: -1h, repeat: 10000}
      - {type: login, user_id: "w{i}", ip: 192.0.2.1, timestamp: -1h, repeat: 10000}
    when: {type: login, user_id: u, ip: 192.0.2.1, timestamp: now}
    expect: {decision: allow}
`)
	if _, err := rules.Compile("slow.yaml", []byte(b.String())); err == nil || !strings.Contains(err.Error(), "slow.yaml: tests: 30001 events to replay through up to") {
		t.Fatalf("30,001 test events through 5 rules of ~80,000 steps: %v", err)
	}
	// The same set without the tests compiles.
	if _, err := rules.Compile("fast.yaml", []byte(b.String()[:strings.Index(b.String(), "tests:")])); err != nil {
		t.Fatal(err)
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
