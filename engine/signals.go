package engine

import (
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// SignalSink receives the decisions and outcomes worth telling the rest of the security stack about (the
// signals package: SSF transmitter, webhooks). Signal is called on the request path, so it must not block
// nor do I/O: the signals package puts the value in a bounded queue, or drops it and counts the drop.
type SignalSink interface {
	Signal(s Signal)
}

// SignalKind says what a Signal reports.
type SignalKind uint8

// Signal kinds.
const (
	SignalDecision SignalKind = iota + 1
	SignalOutcome
)

// MaxSignalRules is how many fired rules a Signal names.
const MaxSignalRules = 4

// Signal is one decision or outcome worth reporting: a decision that is not an allow or that a stuffing rule
// fired on, and the outcomes that move a user's risk level (signalOutcome). UserID and Tenant are the
// event's, which alias the request buffer: they are valid only during the Signal call, and a sink that keeps
// them copies them (the signals package copies their bytes into its queue), so that making a signal allocates
// nothing, even in a credential-stuffing wave where nearly every decision is one.
type Signal struct {
	Kind         SignalKind
	UserID       string // as the caller sent it
	Tenant       string
	Time         int64 // event time, unix nanoseconds
	EvaluationID uint64

	// Decisions.
	EventType        features.EventType
	Action           rules.Action
	CredentialsValid bool // the event said the credentials were valid
	Stuffing         bool // a rule of the model's StuffingRules fired
	Rules            [MaxSignalRules]string
	NumRules         int

	// Outcomes.
	Outcome features.OutcomeType

	// Model is the live rule set's risk model when the signal was made (immutable).
	Model *rules.RiskModel
}

// signalOutcome reports whether outcomes of type t are signals.
func signalOutcome(t features.OutcomeType) bool {
	switch t {
	case features.FraudConfirmed, features.Chargeback, features.LegitConfirmed, features.MFAPassed, features.MFAFailed, features.PasswordChanged:
		return true
	}
	return false
}

// signalDecision hands a signal-worthy decision to the sink. fired are the live set's fired rules.
func (e *Engine) signalDecision(ev *features.Event, d *Decision, set *rules.Set, fired []int) {
	stuffing := false
	for _, i := range fired {
		r := &set.Rules[i]
		if !r.Shadow && r.Stuffing {
			stuffing = true
			break
		}
	}
	if d.Action == rules.Allow && !stuffing {
		return
	}
	s := Signal{Kind: SignalDecision, UserID: ev.UserID, Tenant: ev.Tenant, Time: ev.Time,
		EvaluationID: d.EvaluationID, EventType: ev.Type, Action: d.Action, Stuffing: stuffing,
		CredentialsValid: ev.HasCredentials && ev.CredentialsValid, Model: &set.Signals}
	for _, i := range fired {
		r := &set.Rules[i]
		if r.Shadow || s.NumRules == MaxSignalRules {
			continue
		}
		s.Rules[s.NumRules] = r.ID
		s.NumRules++
	}
	e.signals.Signal(s)
}

// signalOutcome hands an outcome that moves a user's risk level to the sink.
func (e *Engine) signalOutcome(o *features.Outcome) {
	if !signalOutcome(o.Type) || o.UserID == "" {
		return
	}
	id, _ := parseEvaluationID(o.EvaluationID)
	e.signals.Signal(Signal{Kind: SignalOutcome, UserID: o.UserID, Tenant: o.Tenant, Time: o.Time,
		EvaluationID: id &^ flagBits, Outcome: o.Type, Model: &e.live.Load().set.Signals})
}
