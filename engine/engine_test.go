package engine_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/store"
)

func newEngine(tb testing.TB) *engine.Engine { return enginetest.New(tb, nil) }

func login(user, ip, device string, at time.Time) *features.Event {
	return &features.Event{
		Type: features.Login, UserID: user, IP: netip.MustParseAddr(ip), DeviceID: device, Tenant: "default",
		Time: at.UnixNano(), HasCredentials: true, CredentialsValid: true,
	}
}

func TestDecideLearnsDevice(t *testing.T) {
	e := newEngine(t)
	now := time.Now().Add(-72 * time.Hour)
	var d engine.Decision
	if err := e.Decide(login("alice", "216.160.83.56", "dev-1", now), &d); err != nil {
		t.Fatal(err)
	}
	if d.Action != rules.Allow {
		t.Fatalf("first login: %v %d %+v", d.Action, d.Score, d.Reasons)
	}
	if err := e.Decide(login("alice", "175.16.199.1", "dev-2", now.Add(48*time.Hour-2*time.Hour)), &d); err != nil {
		t.Fatal(err)
	}
	if d.Action != rules.StepUp {
		t.Fatalf("new device, new country: %v %d %+v", d.Action, d.Score, d.Reasons)
	}
}

func TestDecideRefusesFutureTimestamp(t *testing.T) {
	e := newEngine(t)
	var d engine.Decision
	err := e.Decide(login("bob", "216.160.83.56", "d", time.Now().Add(time.Hour)), &d)
	if err != engine.ErrFutureTimestamp {
		t.Fatalf("err = %v, want ErrFutureTimestamp", err)
	}
	var ud store.UserData
	if held, _ := e.Extractor().ExportUser("bob", time.Now().UnixNano(), &ud); held {
		t.Fatal("a refused event changed state")
	}
}

func TestExplainListsEveryRule(t *testing.T) {
	e := newEngine(t)
	var d engine.Decision
	d.Explain = new(engine.Explanation)
	if err := e.Decide(login("max", "65.0.0.1", "max-phone", time.Now().Add(-time.Minute)), &d); err != nil {
		t.Fatal(err)
	}
	x := d.Explain
	if len(x.Rules) != len(e.Rules().Rules) || !x.Vector.IsTor {
		t.Fatalf("explanation: %d rules of %d, is_tor %v", len(x.Rules), len(e.Rules().Rules), x.Vector.IsTor)
	}
	fired := 0
	for _, r := range x.Rules {
		if r.Fired {
			fired++
		}
	}
	if fired != len(d.Reasons) {
		t.Fatalf("%d rules fired in the explanation, %d reasons", fired, len(d.Reasons))
	}
}

func TestSwapRulesAndShadow(t *testing.T) {
	e := newEngine(t)
	set, err := rules.Compile("t.yaml", []byte(`version: v2
thresholds: {step_up: 40, deny: 80}
rules:
  - {id: tor_shadow, when: is_tor, action: deny, mode: shadow}
`))
	if err != nil {
		t.Fatal(err)
	}
	if old := e.SwapRules(set); old.Version != "builtin-3" {
		t.Fatalf("previous version %q", old.Version)
	}
	var d engine.Decision
	if err := e.Decide(login("nia", "65.0.0.1", "nia-phone", time.Now().Add(-time.Minute)), &d); err != nil {
		t.Fatal(err)
	}
	if d.Action != rules.Allow || d.RulesVersion != "v2" || len(d.Reasons) != 0 {
		t.Fatalf("a shadow rule changed the decision: %v %q %+v", d.Action, d.RulesVersion, d.Reasons)
	}
}

func TestDecisionsAreLogged(t *testing.T) {
	dir := t.TempDir()
	l, err := decisionlog.Open(decisionlog.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := rules.Default()
	city, asn, anon := testenv.GeoIP(t)
	db, err := geo.Open(geo.Config{CityPath: city, ASNPath: asn, AnonymousPath: anon})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	x := features.NewExtractor(features.NewHasher([]byte("t")), features.NewState(0), db)
	e, err := engine.New(engine.Config{Extractor: x, Rules: set, Log: l})
	if err != nil {
		t.Fatal(err)
	}
	var d engine.Decision
	if err := e.Decide(login("quinn", "65.0.0.1", "q-phone", time.Now().Add(-time.Minute)), &d); err != nil {
		t.Fatal(err)
	}
	e.Fallback(login("quinn", "65.0.0.1", "q-phone", time.Now()), &d, "test")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, decisionlog.CurrentName))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"fired":["tor_exit"`) || !strings.Contains(lines[1], `"fallback":true`) {
		t.Fatalf("log:\n%s", data)
	}
	if strings.Contains(string(data), "quinn") || strings.Contains(string(data), "65.0.0.1") {
		t.Fatalf("the log holds an identifier in clear:\n%s", data)
	}
}

func TestShadowSetNeverChangesTheAnswer(t *testing.T) {
	dir := t.TempDir()
	l, err := decisionlog.Open(decisionlog.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewSet()
	e := enginetest.New(t, reg, func(c *engine.Config) { c.Log = l })
	shadow, err := rules.Compile("shadow.yaml", []byte(`version: shadow-1
thresholds: {step_up: 40, deny: 80}
rules:
  - {id: deny_tor, when: is_tor, action: deny}
`))
	if err != nil {
		t.Fatal(err)
	}
	if old := e.SetShadow(shadow); old != nil {
		t.Fatal("a shadow set before any was installed")
	}
	var d engine.Decision
	if err := e.Decide(login("sam", "65.0.0.1", "sam-phone", time.Now().Add(-time.Minute)), &d); err != nil {
		t.Fatal(err)
	}
	if d.Action != rules.StepUp || len(d.Reasons) != 1 || d.Reasons[0].Rule != "tor_exit" {
		t.Fatalf("the live answer changed: %v %+v", d.Action, d.Reasons)
	}
	l.Close()
	data, _ := os.ReadFile(filepath.Join(dir, decisionlog.CurrentName))
	if !strings.Contains(string(data), `"fired":["tor_exit"],"shadow":{"rules_version":"shadow-1","decision":"deny","fired":["deny_tor"]}`) {
		t.Fatalf("log lacks the live and shadow verdicts:\n%s", data)
	}
	var m bytes.Buffer
	reg.WritePrometheus(&m)
	if !strings.Contains(m.String(), `riskd_shadow_disagreements_total{live="step_up",shadow="deny"} 1`) {
		t.Fatalf("metrics lack the disagreement:\n%s", m.String())
	}
}

// TestDecideUsesTheTenantsView: the live and the shadow set are both evaluated with the view of the event's
// tenant at the event's time, and the explanation says for each rule whether it applied and why not.
func TestDecideUsesTheTenantsView(t *testing.T) {
	e := newEngine(t)
	set, err := rules.Compile("t.yaml", []byte(`version: tenants-1
thresholds: {step_up: 40, deny: 80}
rules:
  - {id: tor_exit, when: is_tor, score: 60}
  - {id: old_block, when: is_tor, action: deny, expires: 2020-01-01T00:00:00Z}
  - {id: checkout_only, when: is_tor, score: 5, events: [checkout]}
tenants:
  brand-a:
    disable: [tor_exit]
    thresholds: {step_up: 10}
    rules: [{id: brand_a_tor, when: is_tor, score: 15}]
`))
	if err != nil {
		t.Fatal(err)
	}
	e.SwapRules(set)
	e.SetShadow(set)
	var d engine.Decision
	ev := login("tara", "65.0.0.1", "tara-phone", time.Now().Add(-time.Minute))
	ev.Tenant = "brand-a"
	d.Explain = new(engine.Explanation)
	if err := e.Decide(ev, &d); err != nil {
		t.Fatal(err)
	}
	if d.Action != rules.StepUp || d.Score != 15 || len(d.Reasons) != 1 || d.Reasons[0].Rule != "brand_a_tor" {
		t.Fatalf("brand-a: %v %d %+v", d.Action, d.Score, d.Reasons)
	}
	want := map[string]rules.Applicability{"tor_exit": rules.Disabled, "old_block": rules.Expired,
		"checkout_only": rules.OtherEvent, "brand_a_tor": rules.Applies}
	for _, r := range d.Explain.Rules {
		if r.Why != want[r.ID] || r.Skipped != (want[r.ID] != rules.Applies) {
			t.Errorf("explain %s: why %v skipped %v, want %v", r.ID, r.Why, r.Skipped, want[r.ID])
		}
	}
	if d.Explain.Thresholds != (rules.Thresholds{StepUp: 10, Deny: 80}) {
		t.Errorf("explain thresholds %+v", d.Explain.Thresholds)
	}
	ev = login("tara", "65.0.0.1", "tara-phone", time.Now().Add(-time.Minute))
	ev.Tenant = "brand-b"
	if err := e.Decide(ev, &d); err != nil {
		t.Fatal(err)
	}
	if d.Action != rules.StepUp || d.Score != 60 || d.Reasons[0].Rule != "tor_exit" {
		t.Fatalf("brand-b, the global view: %v %d %+v", d.Action, d.Score, d.Reasons)
	}
}
