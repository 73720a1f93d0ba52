package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// recordingSink keeps every signal (the engine calls it on the deciding goroutine; these tests decide on one),
// copying its strings as the contract asks of a sink that keeps them.
type recordingSink struct{ got []engine.Signal }

func (s *recordingSink) Signal(sig engine.Signal) {
	sig.UserID, sig.Tenant = strings.Clone(sig.UserID), strings.Clone(sig.Tenant)
	s.got = append(s.got, sig)
}

func TestSignalsOfStuffingAndOutcomes(t *testing.T) {
	sink := &recordingSink{}
	e := enginetest.New(t, metrics.NewSet(), func(c *engine.Config) { c.Signals = sink })
	t0 := time.Now().Add(-time.Hour)
	var d engine.Decision
	for i := range 50 {
		ev := login(fmt.Sprintf("victim-%d", i), "198.51.100.7", "", t0.Add(time.Duration(i)*time.Second))
		ev.CredentialsValid = false
		if err := e.Decide(ev, &d); err != nil {
			t.Fatal(err)
		}
	}
	sink.got = nil
	ev := login("victim-50", "198.51.100.7", "", t0.Add(55*time.Second))
	if err := e.Decide(ev, &d); err != nil {
		t.Fatal(err)
	}
	if len(sink.got) != 1 {
		t.Fatalf("%d signals for a valid login in a stuffing wave, want 1", len(sink.got))
	}
	s := sink.got[0]
	if s.Kind != engine.SignalDecision || !s.Stuffing || !s.CredentialsValid || s.Action != rules.Deny ||
		s.UserID != "victim-50" || s.NumRules == 0 || s.Model == nil || s.EventType != features.Login {
		t.Fatalf("signal %+v", s)
	}

	sink.got = nil
	for _, typ := range []features.OutcomeType{features.LoginFailed, features.LoginSucceeded, features.FraudConfirmed, features.MFAFailed} {
		if err := e.Record(&features.Outcome{Type: typ, UserID: "victim-50", Tenant: "default"}); err != nil {
			t.Fatal(err)
		}
	}
	if len(sink.got) != 2 || sink.got[0].Outcome != features.FraudConfirmed || sink.got[1].Outcome != features.MFAFailed {
		t.Fatalf("outcome signals %+v: want fraud_confirmed and mfa_failed only", sink.got)
	}
}
