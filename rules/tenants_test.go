package rules_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

const overlaid = `version: t-1
thresholds:
  step_up: 40
  deny: 80
  events:
    checkout: {step_up: 30, deny: 70}
rules:
  - {id: new_device, when: new_device, score: 25, events: [login, checkout]}
  - {id: new_country, when: new_country, score: 20}
  - {id: tor, when: is_tor, score: 60}
  - {id: old_campaign, when: asn == 666, action: deny, expires: 2026-03-01T00:00:00Z}
  - {id: future_campaign, when: asn == 777, action: deny, expires: 2999-01-01T00:00:00Z}
tenants:
  brand-a:
    disable: [new_country]
    thresholds: {events: {login: {step_up: 50}}}
    rules:
      - {id: brand_a_vpn, when: is_vpn, score: 45}
  brand-b:
    thresholds: {step_up: 20}
`

func eval(set *rules.Set, v features.Vector, in rules.Input) rules.Result {
	e := rules.NewEvaluator()
	e.Vector = v
	var res rules.Result
	set.Evaluate(e, in, &res)
	return res
}

func firedIDs(set *rules.Set, res rules.Result) []string {
	var ids []string
	for _, i := range res.Fired {
		ids = append(ids, set.Rules[i].ID)
	}
	return ids
}

func TestTenantViews(t *testing.T) {
	set, err := rules.Compile("t.yaml", []byte(overlaid))
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Tenants(); !slices.Equal(got, []string{"brand-a", "brand-b"}) {
		t.Fatalf("tenants %v", got)
	}
	if r := set.Rules[len(set.Rules)-1]; r.ID != "brand_a_vpn" || r.Tenant != "brand-a" {
		t.Fatalf("last rule %s of tenant %q, want brand-a's own rule after the global ones", r.ID, r.Tenant)
	}
	all := features.Vector{NewDevice: true, NewCountry: true, IsVPN: true}
	for _, c := range []struct {
		name   string
		in     rules.Input
		fired  []string
		score  int
		action rules.Action
		th     rules.Thresholds
	}{
		{"global login", rules.Input{Type: features.Login}, []string{"new_device", "new_country"}, 45, rules.StepUp, rules.Thresholds{40, 80}},
		{"unknown tenant is global", rules.Input{Type: features.Login, Tenant: "brand-z"}, []string{"new_device", "new_country"}, 45, rules.StepUp, rules.Thresholds{40, 80}},
		{"global checkout thresholds", rules.Input{Type: features.Checkout}, []string{"new_device", "new_country"}, 45, rules.StepUp, rules.Thresholds{30, 70}},
		{"brand-a disables and adds", rules.Input{Type: features.Login, Tenant: "brand-a"}, []string{"new_device", "brand_a_vpn"}, 70, rules.StepUp, rules.Thresholds{50, 80}},
		{"brand-a inherits checkout", rules.Input{Type: features.Checkout, Tenant: "brand-a"}, []string{"new_device", "brand_a_vpn"}, 70, rules.Deny, rules.Thresholds{30, 70}},
		{"brand-b default beats global event", rules.Input{Type: features.Checkout, Tenant: "brand-b"}, []string{"new_device", "new_country"}, 45, rules.StepUp, rules.Thresholds{20, 70}},
		{"event filter", rules.Input{Type: features.Registration, Tenant: "brand-a"}, []string{"brand_a_vpn"}, 45, rules.StepUp, rules.Thresholds{40, 80}},
		{"out of range type", rules.Input{Type: features.NumEventTypes + 3}, []string{"new_country"}, 20, rules.Allow, rules.Thresholds{40, 80}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := eval(set, all, c.in)
			if got := firedIDs(set, res); !slices.Equal(got, c.fired) || res.Score != c.score || res.Action != c.action || res.Thresholds != c.th {
				t.Fatalf("fired %v score %d action %v thresholds %+v, want %v %d %v %+v", got, res.Score, res.Action, res.Thresholds, c.fired, c.score, c.action, c.th)
			}
			if got := set.ThresholdsFor(c.in.Tenant, c.in.Type); got != c.th {
				t.Fatalf("ThresholdsFor %+v, want %+v", got, c.th)
			}
		})
	}
	in := rules.Input{Type: features.Registration, Tenant: "brand-a", Time: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).UnixNano()}
	want := map[string]rules.Applicability{"new_device": rules.OtherEvent, "new_country": rules.Disabled, "tor": rules.Applies,
		"old_campaign": rules.Expired, "future_campaign": rules.Applies, "brand_a_vpn": rules.Applies}
	for i, r := range set.Rules {
		if got := set.Applies(i, in); got != want[r.ID] {
			t.Errorf("brand-a registration: rule %s: %v, want %v", r.ID, got, want[r.ID])
		}
	}
	if got := set.Applies(len(set.Rules)-1, rules.Input{Type: features.Login, Tenant: "brand-b"}); got != rules.OtherTenant {
		t.Errorf("brand-a's rule for brand-b: %v", got)
	}
	if got := set.Disabled("brand-a"); !slices.Equal(got, []string{"new_country"}) {
		t.Errorf("disabled %v", got)
	}
}

func TestExpiryGoesByEventTime(t *testing.T) {
	set, err := rules.Compile("t.yaml", []byte(overlaid))
	if err != nil {
		t.Fatal(err)
	}
	if !set.HasExpiry() {
		t.Fatal("HasExpiry false")
	}
	if len(set.Warnings) != 1 || !strings.Contains(set.Warnings[0], `t.yaml:11: rule "old_campaign": expired at 2026-03-01T00:00:00Z`) {
		t.Fatalf("warnings %q", set.Warnings)
	}
	expiry := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	v := features.Vector{ASN: 666}
	for _, c := range []struct {
		at   int64
		want rules.Action
	}{{expiry - 1, rules.Deny}, {expiry, rules.Allow}, {expiry + int64(time.Hour), rules.Allow}, {0, rules.Deny}} {
		if got := eval(set, v, rules.Input{Type: features.Login, Time: c.at}).Action; got != c.want {
			t.Errorf("event at %d: %v, want %v", c.at, got, c.want)
		}
	}
	if got := eval(set, features.Vector{ASN: 777}, rules.Input{Type: features.Login, Time: time.Now().UnixNano()}).Action; got != rules.Deny {
		t.Errorf("a rule expiring in 2999: %v", got)
	}
}

func TestOverlayErrors(t *testing.T) {
	for name, c := range map[string]struct{ src, want string }{
		"unknown disable":     {"thresholds: {step_up: 40, deny: 80}\nrules: [{id: a, when: is_tor, score: 1}]\ntenants: {b: {disable: [x]}}\n", `x.yaml:3: tenant "b": disable: no rule "x" in the set`},
		"clashing id":         {"thresholds: {step_up: 40, deny: 80}\nrules: [{id: a, when: is_tor, score: 1}]\ntenants:\n  b:\n    rules: [{id: a, when: is_vpn, score: 1}]\n", `x.yaml:5: rule "a": tenant "b": clashes with the global rule at line 2`},
		"inverted thresholds": {"thresholds: {step_up: 40, deny: 80}\nrules: []\ntenants: {b: {thresholds: {deny: 30}}}\n", `x.yaml:3: tenant "b": thresholds: want 0 < step_up < deny <= 100, got step_up=40 deny=30`},
		"event threshold":     {"thresholds: {step_up: 40, deny: 80, events: {login: {step_up: 80}}}\nrules: []\n", `x.yaml:1: thresholds for login: want 0 < step_up < deny <= 100, got step_up=80 deny=80`},
		"out of range":        {"thresholds: {step_up: 0, deny: 180}\nrules: []\n", `x.yaml:1: thresholds: step_up 0: want 1..100`},
		"no thresholds":       {"rules: []\n", `x.yaml: thresholds: missing`},
		"half thresholds":     {"thresholds: {step_up: 40}\n", `x.yaml:1: thresholds: the global thresholds need both step_up and deny`},
		"bad tenant name":     {"thresholds: {step_up: 40, deny: 80}\ntenants: {\"a b\": {}}\n", `tenant "a b": a tenant name`},
		"bad expiry":          {"thresholds: {step_up: 40, deny: 80}\nrules: [{id: a, when: is_tor, score: 1, expires: soon}]\n", `x.yaml:2: rule "a": expires "soon"`},
		"unknown overlay key": {"thresholds: {step_up: 40, deny: 80}\ntenants:\n  b:\n    rule: []\n", `x.yaml:4: rule file syntax: tenant: unknown key "rule"`},
		"unknown level key":   {"thresholds: {step_up: 40, deny: 80, events: {login: {stepup: 3}}}\n", `x.yaml:1: rule file syntax: event thresholds: unknown key "stepup"`},
		"duplicate tenant":    {"thresholds: {step_up: 40, deny: 80}\ntenants:\n  b: {}\n  b: {}\n", `already defined`},
	} {
		_, err := rules.Compile("x.yaml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
		if err != nil && !errors.Is(err, rules.ErrCompile) && !errors.Is(err, rules.ErrSyntax) {
			t.Errorf("%s: %v is neither ErrCompile nor ErrSyntax", name, err)
		}
	}
}

func TestCompileSourcesMerges(t *testing.T) {
	set, err := rules.CompileSources("dir", []rules.Source{
		{Name: "a.yaml", Data: []byte("version: v9\nthresholds: {step_up: 40, deny: 80}\nrules: [{id: a, when: is_tor, score: 60}]\ntenants: {t: {disable: [b]}}\n")},
		{Name: "b.yaml", Data: []byte("rules: [{id: b, when: is_vpn, score: 30}]\ntenants: {t: {rules: [{id: c, when: is_hosting, score: 5}]}}\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range set.Rules {
		ids = append(ids, r.ID+"@"+r.File)
	}
	if set.Version != "v9" || set.Source != "dir" || !slices.Equal(ids, []string{"a@a.yaml", "b@b.yaml", "c@b.yaml"}) {
		t.Fatalf("version %q source %q rules %v", set.Version, set.Source, ids)
	}
	if got := eval(set, features.Vector{IsVPN: true, IsHosting: true}, rules.Input{Type: features.Login, Tenant: "t"}); got.Score != 5 {
		t.Fatalf("tenant t: score %d, want 5 (b disabled, c added)", got.Score)
	}
	// Without a version, the digest covers every file and its name.
	one, _ := rules.CompileSources("d", []rules.Source{{Name: "a.yaml", Data: []byte("thresholds: {step_up: 40, deny: 80}\n")}, {Name: "b.yaml", Data: []byte("rules: []\n")}})
	two, _ := rules.CompileSources("d", []rules.Source{{Name: "a.yaml", Data: []byte("thresholds: {step_up: 40, deny: 80}\n")}, {Name: "c.yaml", Data: []byte("rules: []\n")}})
	if one == nil || two == nil || one.Version == two.Version || !strings.HasPrefix(one.Version, "sha256:") {
		t.Fatalf("digest versions %v %v", one, two)
	}
}

func TestParseTimestamp(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                  now,
		"-2h":                  now.Add(-2 * time.Hour),
		"-90m":                 now.Add(-90 * time.Minute),
		"+1m":                  now.Add(time.Minute),
		"-3d":                  now.Add(-72 * time.Hour),
		"-1d12h":               now.Add(-36 * time.Hour),
		"-30s":                 now.Add(-30 * time.Second),
		"2026-01-02T03:04:05Z": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	} {
		ts, err := rules.ParseTimestamp(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := ts.Resolve(now); !got.Equal(want) {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
	for _, bad := range []string{"", "2h", "-", "-2x", "-d", "yesterday", "2026-01-02", "--2h", "-2h-1m"} {
		if _, err := rules.ParseTimestamp(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestManyTenants: beyond a few tenants views are looked up in a map rather than scanned; both find the same
// views (TestEvaluateAllocations checks that neither allocates).
func TestManyTenants(t *testing.T) {
	for _, n := range []int{3, 40} {
		var b strings.Builder
		b.WriteString("thresholds: {step_up: 40, deny: 80}\nrules: [{id: base, when: is_tor, score: 10}]\ntenants:\n")
		for i := range n {
			fmt.Fprintf(&b, "  t%d: {rules: [{id: r%d, when: is_tor, score: %d}]}\n", i, i, i+1)
		}
		set, err := rules.Compile("many.yaml", []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Tenants()) != n || set.Tenants()[0] != "t0" {
			t.Fatalf("tenants %v", set.Tenants())
		}
		e := rules.NewEvaluator()
		e.Vector = features.Vector{IsTor: true}
		var res rules.Result
		for i := range n {
			set.Evaluate(e, rules.Input{Type: features.Login, Tenant: fmt.Sprintf("t%d", i)}, &res)
			if res.Score != 10+i+1 {
				t.Fatalf("%d tenants: t%d scores %d, want %d", n, i, res.Score, 10+i+1)
			}
		}
		set.Evaluate(e, rules.Input{Type: features.Login, Tenant: "nobody"}, &res)
		if res.Score != 10 {
			t.Fatalf("%d tenants: an unknown tenant scores %d, want the global 10", n, res.Score)
		}
	}
}
