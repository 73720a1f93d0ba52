package backtest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/internal/jsonenc"
	"github.com/riskd/riskd/rules"
)

// knownLog writes a decision log whose answers are known: 60 familiar logins allowed, 20 logins from Tor
// stepped up (labelled fraud), 20 checkouts from a new device stepped up, 10 of the familiar logins labelled
// legit, and 5 fail-policy decisions.
func knownLog(t testing.TB, live *rules.Set, repeat int) []byte {
	t.Helper()
	enc := jsonenc.NewVectorEncoder()
	var buf bytes.Buffer
	var line []byte
	id := uint64(0)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	write := func(r *decisionlog.Record) {
		line = r.AppendJSON(line[:0], enc)
		buf.Write(line)
	}
	decide := func(v features.Vector, tenant string) decisionlog.Record {
		id++
		v.Tenant = tenant
		v.MFAPreference = "adaptive"
		e := rules.NewEvaluator()
		e.Vector = v
		var res rules.Result
		et, _ := features.ParseEventType(v.Event)
		live.Evaluate(e, rules.Input{Type: et, Tenant: tenant}, &res)
		var r decisionlog.Record
		r.Fill(at+int64(id), id, id*7, res.Action, res.Score, live, res.Fired, &v)
		write(&r)
		return r
	}
	for range repeat {
		for i := range 60 {
			r := decide(features.Vector{Event: "login", Country: "SE", CredentialsKnown: true, CredentialsValid: true, UserLogins: 5}, "brand-a")
			if i < 10 {
				write(&decisionlog.Record{Time: at, EvaluationID: r.EvaluationID, Label: "legit"})
			}
		}
		for range 20 {
			r := decide(features.Vector{Event: "login", IsTor: true, IsAnonymous: true, UserLogins: 5}, "brand-b")
			write(&decisionlog.Record{Time: at, EvaluationID: r.EvaluationID, Label: "fraud"})
		}
		for range 20 {
			decide(features.Vector{Event: "checkout", Amount: 30, Currency: "EUR", NewDevice: true, NewCountry: true, UserLogins: 5}, "brand-a")
		}
		for range 5 {
			id++
			r := decisionlog.Record{Time: at, EvaluationID: id, Action: rules.Allow, Set: live, Fallback: true}
			write(&r)
		}
	}
	buf.WriteString("not json\n")
	return buf.Bytes()
}

func compile(t testing.TB, src string) *rules.Set {
	t.Helper()
	set, err := rules.Compile("candidate.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestReplayWithTheLiveRulesChangesNothing(t *testing.T) {
	live, _ := rules.Default()
	rep, err := Run(bytes.NewReader(knownLog(t, live, 1)), live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 100 || rep.Fallbacks != 5 || rep.Invalid != 1 || rep.Flipped != 0 {
		t.Fatalf("events %d fallbacks %d invalid %d flipped %d", rep.Events, rep.Fallbacks, rep.Invalid, rep.Flipped)
	}
	if rep.Recorded != rep.Candidate || rep.Recorded[rules.Allow] != 60 || rep.Recorded[rules.StepUp] != 40 {
		t.Fatalf("recorded %v candidate %v", rep.Recorded, rep.Candidate)
	}
	l := rep.Labels
	if l == nil || l.Fraud != 20 || l.Legit != 10 || l.RecordedDetection != 1 || l.CandidateDetection != 1 || l.CandidateFalsePos != 0 {
		t.Fatalf("labels %+v", l)
	}
}

func TestReplayMeasuresACandidate(t *testing.T) {
	live, _ := rules.Default()
	log := knownLog(t, live, 1)
	// The candidate forgets Tor and steps up every checkout.
	candidate := compile(t, `version: candidate-1
thresholds: {step_up: 40, deny: 80}
rules:
  - {id: new_device, when: new_device, score: 25, events: [login, checkout]}
  - {id: new_country, when: new_country, score: 20, events: [login, checkout]}
  - {id: all_checkouts, when: 'event == "checkout"', action: step_up}
`)
	rep, err := Run(bytes.NewReader(log), candidate, Options{Workers: 3, Samples: 5})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Flipped != 20 || rep.Candidate[rules.Allow] != 80 || rep.Candidate[rules.StepUp] != 20 {
		t.Fatalf("flipped %d candidate %v", rep.Flipped, rep.Candidate)
	}
	if l := rep.Labels; l.CandidateDetection != 0 || l.RecordedDetection != 1 {
		t.Fatalf("labels %+v", l)
	}
	if len(rep.Flips) != 5 || rep.Flips[0].Recorded != "step_up" || rep.Flips[0].Candidate != "allow" || rep.Flips[0].Tenant != "brand-b" {
		t.Fatalf("flips %+v", rep.Flips)
	}
	if len(rep.Retired) != 1 || rep.Retired[0].ID != "tor_exit" || rep.Retired[0].Recorded != 20 {
		t.Fatalf("retired %+v", rep.Retired)
	}
	var checkout Group
	for _, g := range rep.ByEventType {
		if g.Name == "checkout" {
			checkout = g
		}
	}
	if checkout.Events != 20 || checkout.Candidate[rules.StepUp] != 20 {
		t.Fatalf("checkout group %+v", checkout)
	}
	var out strings.Builder
	rep.WriteText(&out)
	for _, want := range []string{"100 decisions replayed", "tor_exit (not in candidate)", "detection", "brand-b"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// TestReplayUsesTenantViewsAndEventTime: each logged event is evaluated with its tenant's view of the candidate
// and at its own time, so overlays apply and a rule that expired after the log was written still applies to
// it (and one that expired before does not).
func TestReplayUsesTenantViewsAndEventTime(t *testing.T) {
	live, _ := rules.Default()
	log := knownLog(t, live, 1) // written 2026-03-01
	candidate := compile(t, `version: candidate-2
thresholds: {step_up: 40, deny: 80}
rules:
  - {id: tor_exit, when: is_tor, score: 60}
  - {id: tor_campaign, when: is_tor, action: deny, expires: 2026-04-01T00:00:00Z}
  - {id: old_checkout_block, when: 'event == "checkout"', action: deny, expires: 2026-02-01T00:00:00Z}
tenants:
  brand-a:
    rules:
      - {id: brand_a_new_device, when: new_device, score: 45}
`)
	rep, err := Run(bytes.NewReader(log), candidate, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Distribution{rules.Allow: 60, rules.StepUp: 20, rules.Deny: 20}); rep.Candidate != want || rep.Flipped != 20 {
		t.Fatalf("candidate %v flipped %d, want %v and the 20 Tor logins flipped to deny", rep.Candidate, rep.Flipped, want)
	}
}

func TestReplayRefusesNonLogs(t *testing.T) {
	live, _ := rules.Default()
	if _, err := Run(strings.NewReader("hello\nworld\n"), live, Options{}); err == nil {
		t.Fatal("a file of no records replayed without error")
	}
}

// BenchmarkReplay measures the replay rate over a realistic mix (the target is 200k events/s).
func BenchmarkReplay(b *testing.B) {
	live, _ := rules.Default()
	log := knownLog(b, live, 1000) // 100k decisions
	b.SetBytes(int64(len(log)))
	b.ResetTimer()
	var rate float64
	for b.Loop() {
		rep, err := Run(bytes.NewReader(log), live, Options{})
		if err != nil {
			b.Fatal(err)
		}
		rate = rep.EventsPerSecond()
	}
	b.ReportMetric(rate, "events/s")
}
