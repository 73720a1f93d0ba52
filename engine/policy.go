package engine

import (
	"fmt"
	"strings"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// FailPolicy is the decision to give, per event type, when riskd cannot evaluate an event: it is overloaded,
// or (with shared state) a dependency is down. Identity-server integrators should apply the same table on
// their side when riskd does not answer in time.
type FailPolicy [features.NumEventTypes]rules.Action

// DefaultFailPolicy lets logins and registrations through (an outage of riskd must not lock every customer
// out) and steps up everything that moves money or changes the account.
func DefaultFailPolicy() FailPolicy {
	var p FailPolicy
	for t := features.Login; t < features.NumEventTypes; t++ {
		p[t] = rules.StepUp
	}
	p[features.Login] = rules.Allow
	p[features.Registration] = rules.Allow
	return p
}

// ParseFailPolicy reads "login=allow,checkout=step_up,..." over the default policy.
func ParseFailPolicy(s string) (FailPolicy, error) {
	p := DefaultFailPolicy()
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, action, ok := strings.Cut(item, "=")
		t, okT := features.ParseEventType(strings.TrimSpace(name))
		a, okA := rules.ParseAction(strings.TrimSpace(action))
		if !ok || !okT || !okA {
			return p, fmt.Errorf("fail policy %q: want event_type=allow|step_up|deny, e.g. login=allow,checkout=step_up", item)
		}
		p[t] = a
	}
	return p, nil
}

// String renders p in the form ParseFailPolicy reads.
func (p FailPolicy) String() string {
	var b strings.Builder
	for t := features.Login; t < features.NumEventTypes; t++ {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.String() + "=" + p[t].String())
	}
	return b.String()
}

// CodeFailPolicy is the reason code of a decision taken by the fail policy instead of the rules.
const CodeFailPolicy = "fail_policy"

// Fallback fills d with the fail policy's decision for ev, without evaluating rules or touching state. why
// says what prevented the evaluation; it becomes the reason's message.
func (e *Engine) Fallback(ev *features.Event, d *Decision, why string) {
	d.Action = e.failPolicy[ev.Type]
	if d.Action == rules.None {
		d.Action = rules.StepUp
	}
	d.Score = 0
	d.RulesVersion = e.live.Load().set.Version
	d.EvaluationID = e.newEvaluationID(ev.Tenant)
	d.Reasons = append(d.Reasons[:0], Reason{Code: CodeFailPolicy, Message: why})
	d.Took = 0
	e.metrics.fallback(d.Action)
	if e.log != nil {
		var v features.Vector
		v.Event, v.Tenant, v.Channel = ev.Type.String(), ev.Tenant, ev.Channel
		at := ev.Time
		if at == 0 {
			at = e.now().UnixNano()
		}
		var rec decisionlog.Record
		rec.Fill(at, d.EvaluationID, 0, d.Action, 0, e.live.Load().set, nil, &v)
		rec.Fallback = true
		e.log.Append(&rec)
	}
}
