//go:build !race

package signals

import (
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// TestTakeAllocations: under a credential-stuffing wave every decision is a signal, so the worker taking one
// that no stream or webhook wants (the risk level already raised, a credential-compromise event made) must
// allocate nothing: the events' claims are built only for a stream that wants them.
func TestTakeAllocations(t *testing.T) {
	tx := newTestTransmitter(t, nil)
	m := rules.DefaultRiskModel()
	at := time.Now().Add(-time.Hour).UnixNano()
	sig := engine.Signal{Kind: engine.SignalDecision, UserID: "stuffed-user-with-a-longer-id@example.com", Tenant: "default",
		Time: at, EventType: features.Login, Action: rules.Deny, Stuffing: true, CredentialsValid: true, Model: &m}
	in := newIntake(sig, 1)
	tx.take(&in) // tracks the user and raises its level
	var made int
	take := func() {
		in = newIntake(sig, 1)
		made += len(tx.assess(&sig, tx.subjectKey(sig.UserID), tx.events[:0]))
		tx.take(&in)
	}
	if n := testing.AllocsPerRun(1000, take); n != 0 {
		t.Fatalf("taking a signal no stream wants allocates %.1f times, want 0", n)
	}
	if made == 0 {
		t.Fatal("the signals made no event: the test measured nothing")
	}
}

// TestSignalAllocatesNothing: queuing a signal copies its strings into the queue's element, so the request path
// allocates nothing for it, in a credential-stuffing wave where nearly every decision is a signal.
func TestSignalAllocatesNothing(t *testing.T) {
	tx := newTestTransmitter(t, nil)
	tx.Close() // no worker: the test empties the queue itself
	sig := engine.Signal{Kind: engine.SignalDecision, UserID: "stuffed-user@example.com", Tenant: "default", Action: rules.Deny}
	n := testing.AllocsPerRun(1000, func() {
		tx.Signal(sig)
		<-tx.in
	})
	if n != 0 {
		t.Fatalf("queuing a signal allocates %.1f times, want 0", n)
	}
}
