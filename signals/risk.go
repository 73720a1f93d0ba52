package signals

import (
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// userRisk is riskd's view of one user's risk level, keyed by a keyed hash of the user id (no raw id).
type userRisk struct {
	level    rules.RiskLevel
	since    int64 // when the level was last raised or set, unix nanoseconds (event time)
	mfaFails int
	mfaFrom  int64 // start of the window the failures are counted in
}

// maxTracked bounds the users whose level is above LOW or who have failed step-ups being counted.
const maxTracked = 1 << 18

// current is the level at t after decay: one step down per Decay without a raising signal.
func (u *userRisk) current(m *rules.RiskModel, t int64) rules.RiskLevel {
	l := u.level
	if m.Decay <= 0 || l <= rules.RiskLow || t <= u.since {
		return l
	}
	steps := (t - u.since) / int64(m.Decay)
	if steps >= int64(l-rules.RiskLow) {
		return rules.RiskLow
	}
	return l - rules.RiskLevel(steps)
}

// assess applies signal s about the user with subject key to the user's state and returns the events it
// makes, appended to evs (the worker passes its own buffer, so that assessing allocates nothing once a user is
// tracked). Called by the worker only, with riskMu held.
func (t *Transmitter) assess(s *engine.Signal, key uint64, evs []event) []event {
	m := s.Model
	if m == nil {
		d := rules.DefaultRiskModel()
		m = &d
	}
	u := t.risk[key]
	var prev rules.RiskLevel = rules.RiskLow
	if u != nil {
		prev = u.current(m, s.Time)
	}
	target, reason := rules.RiskLevel(0), ""
	at := time.Unix(0, s.Time)
	switch s.Kind {
	case engine.SignalDecision:
		if s.Action == rules.Deny && m.DenyLevel > target {
			target, reason = m.DenyLevel, deniedReason[min(s.EventType, features.NumEventTypes-1)]
		}
		if s.Stuffing && m.StuffingLevel > target {
			target, reason = m.StuffingLevel, "a credential-stuffing wave hit the user"
		}
		if s.Stuffing && s.EventType == features.Login && s.CredentialsValid {
			evs = append(evs, event{typ: EventCredentialCompromise, subject: s.UserID, time: at})
		}
	case engine.SignalOutcome:
		switch s.Outcome {
		case features.FraudConfirmed, features.Chargeback:
			target, reason = m.FraudLevel, "fraud confirmed"
			evs = append(evs, event{typ: EventSessionRevoked, subject: s.UserID, time: at})
		case features.MFAFailed:
			if u == nil {
				u = &userRisk{level: rules.RiskLow}
				t.track(key, u)
			}
			if s.Time-u.mfaFrom > int64(m.MFAWindow) {
				u.mfaFrom, u.mfaFails = s.Time, 0
			}
			u.mfaFails++
			if u.mfaFails >= m.MFAFailures {
				target, reason = m.MFALevel, "repeated failed step-ups"
			}
		case features.MFAPassed, features.LegitConfirmed:
			if u != nil {
				u.level, u.since, u.mfaFails = rules.RiskLow, s.Time, 0
				delete(t.risk, key)
			}
			if prev > rules.RiskLow {
				reason = "a passed second factor"
				if s.Outcome == features.LegitConfirmed {
					reason = "legitimate activity confirmed"
				}
				evs = append(evs, riskChange(s.UserID, at, rules.RiskLow, prev, reason))
			}
			return evs
		}
	}
	if target > prev {
		if u == nil {
			u = &userRisk{}
			t.track(key, u)
		}
		u.level, u.since = target, s.Time
		// The level's change comes first, before what it was raised for.
		evs = append(evs, event{})
		copy(evs[1:], evs)
		evs[0] = riskChange(s.UserID, at, target, prev, reason)
	} else if target != 0 && target == prev && u != nil {
		u.level, u.since = prev, s.Time // a new raising signal holds the level, restarting its decay
	}
	return evs
}

// deniedReason is the reason of a level raised by a denial, per event type, written once rather than per denial.
var deniedReason = func() (r [features.NumEventTypes]string) {
	for t := range r {
		r[t] = "riskd denied a " + features.EventType(t).String() + " for the user"
	}
	return r
}()

func riskChange(user string, at time.Time, cur, prev rules.RiskLevel, reason string) event {
	return event{typ: EventRiskLevelChange, subject: user, time: at, cur: cur, prev: prev, reason: reason}
}

// track adds u under key, making room when the table is full: a user forgotten costs at most a level that
// starts again from LOW.
func (t *Transmitter) track(key uint64, u *userRisk) {
	if len(t.risk) >= maxTracked {
		for k := range t.risk {
			delete(t.risk, k)
			break
		}
	}
	t.risk[key] = u
}
