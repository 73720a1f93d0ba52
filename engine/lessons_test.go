package engine_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/store"
)

// learned is what a user's state shows of the logins it was taught.
type learned struct {
	logins, history, successes int
	trusted                    int // devices trusted
}

func learnedOf(t *testing.T, e *engine.Engine, user string) learned {
	t.Helper()
	var u store.UserData
	if _, err := e.Extractor().ExportUser(user, time.Now().UnixNano(), &u); err != nil {
		t.Fatal(err)
	}
	p := &u.Profile
	l := learned{logins: int(p.Logins), history: p.History.Logins(), successes: int(u.Velocity[store.Successes][store.Day])}
	for _, d := range p.Devices[:p.NumDevices] {
		if d.TrustedAt != 0 {
			l.trusted++
		}
	}
	return l
}

func outcome(typ features.OutcomeType, user, ip, device string, d *engine.Decision, at time.Time) *features.Outcome {
	o := &features.Outcome{Type: typ, UserID: user, DeviceID: device, Time: at.UnixNano()}
	o.IP = login(user, ip, device, at).IP
	if d != nil {
		o.EvaluationID = strconv.FormatUint(d.EvaluationID, 16)
	}
	return o
}

func decide(t *testing.T, e *engine.Engine, ev *features.Event) engine.Decision {
	t.Helper()
	var d engine.Decision
	if err := e.Decide(ev, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func record(t *testing.T, e *engine.Engine, o *features.Outcome) {
	t.Helper()
	if err := e.Record(o); err != nil {
		t.Fatal(err)
	}
}

// TestConfirmedLoginTeachesOnce: an allowed login with valid credentials is learned by its decision; its
// login_succeeded and legit_confirmed, naming the evaluation, teach nothing more, while an outcome without an
// evaluation id, or for a decision that did not learn, still teaches.
func TestConfirmedLoginTeachesOnce(t *testing.T) {
	e := newEngine(t)
	at := time.Now().Add(-time.Hour)
	d := decide(t, e, login("ola", "216.160.83.56", "ola-laptop", at))
	if d.Action != rules.Allow {
		t.Fatalf("first login: %v %+v", d.Action, d.Reasons)
	}
	want := learned{logins: 1, history: 1, successes: 1}
	if got := learnedOf(t, e, "ola"); got != want {
		t.Fatalf("after the decision: %+v, want %+v", got, want)
	}
	record(t, e, outcome(features.LoginSucceeded, "ola", "216.160.83.56", "ola-laptop", &d, at))
	record(t, e, outcome(features.LegitConfirmed, "ola", "216.160.83.56", "ola-laptop", &d, at))
	if got := learnedOf(t, e, "ola"); got != want {
		t.Fatalf("the decision's outcomes taught its login again: %+v, want %+v", got, want)
	}

	// Without an evaluation id riskd cannot tell: the outcome is another login.
	record(t, e, outcome(features.LoginSucceeded, "ola", "216.160.83.56", "ola-laptop", nil, at.Add(time.Minute)))
	want = learned{logins: 2, history: 2, successes: 2}
	if got := learnedOf(t, e, "ola"); got != want {
		t.Fatalf("an outcome without evaluation id: %+v, want %+v", got, want)
	}

	// A login decided without credentials_valid is not learned by its decision: its outcome teaches it, once.
	ev := login("ola", "216.160.83.56", "ola-laptop", at.Add(2*time.Minute))
	ev.HasCredentials, ev.CredentialsValid = false, false
	d = decide(t, e, ev)
	for range 2 {
		record(t, e, outcome(features.LoginSucceeded, "ola", "216.160.83.56", "ola-laptop", &d, at.Add(2*time.Minute)))
	}
	want = learned{logins: 3, history: 3, successes: 3}
	if got := learnedOf(t, e, "ola"); got != want {
		t.Fatalf("an outcome of a decision that did not learn, sent twice: %+v, want %+v", got, want)
	}
}

// TestStepUpThenMFATeachesOnce: a stepped-up login teaches nothing; its mfa_passed learns it and trusts the
// device; the login_succeeded that follows counts the success only; repeated outcomes change nothing.
func TestStepUpThenMFATeachesOnce(t *testing.T) {
	e := newEngine(t)
	at := time.Now().Add(-47 * time.Hour)
	decide(t, e, login("pia", "216.160.83.56", "pia-laptop", at))
	later := at.Add(46 * time.Hour)
	d := decide(t, e, login("pia", "175.16.199.1", "pia-phone", later))
	if d.Action != rules.StepUp {
		t.Fatalf("new device in a new country: %v %+v", d.Action, d.Reasons)
	}
	// The first login's success is out of the 24-hour window by now.
	if got, want := learnedOf(t, e, "pia"), (learned{logins: 1, history: 1}); got != want {
		t.Fatalf("after the step-up: %+v, want %+v", got, want)
	}
	mfa := outcome(features.MFAPassed, "pia", "175.16.199.1", "pia-phone", &d, later)
	record(t, e, mfa)
	want := learned{logins: 2, history: 2, trusted: 1}
	if got := learnedOf(t, e, "pia"); got != want {
		t.Fatalf("after mfa_passed: %+v, want %+v", got, want)
	}
	for range 2 {
		record(t, e, outcome(features.LoginSucceeded, "pia", "175.16.199.1", "pia-phone", &d, later))
		record(t, e, outcome(features.MFAPassed, "pia", "175.16.199.1", "pia-phone", &d, later))
	}
	want.successes = 1
	if got := learnedOf(t, e, "pia"); got != want {
		t.Fatalf("after login_succeeded and repeated outcomes: %+v, want %+v", got, want)
	}
}

// TestMFAAfterAllowedLoginTrustsOnly: an identity server may ask for a second factor where riskd allowed; the
// mfa_passed of that login trusts its device without counting the login again.
func TestMFAAfterAllowedLoginTrustsOnly(t *testing.T) {
	e := newEngine(t)
	at := time.Now().Add(-time.Hour)
	d := decide(t, e, login("quin", "216.160.83.56", "quin-laptop", at))
	if d.Action != rules.Allow {
		t.Fatalf("first login: %v %+v", d.Action, d.Reasons)
	}
	record(t, e, outcome(features.MFAPassed, "quin", "216.160.83.56", "quin-laptop", &d, at))
	want := learned{logins: 1, history: 1, successes: 1, trusted: 1}
	if got := learnedOf(t, e, "quin"); got != want {
		t.Fatalf("after mfa_passed: %+v, want %+v", got, want)
	}
}

// TestOutcomeOnAnotherInstanceTeachesOnce: instances sharing state (Redis) each answer some decisions; the
// outcome of a decision that learned may reach another instance, or one restarted since, and must not teach
// again. The evaluation id carries that the decision learned.
func TestOutcomeOnAnotherInstanceTeachesOnce(t *testing.T) {
	shared := features.NewState(0)
	h := features.NewHasher([]byte("test"))
	instance := func() *engine.Engine {
		return enginetest.New(t, nil, func(c *engine.Config) {
			c.Extractor = features.NewExtractor(h, shared, c.Extractor.Geo())
		})
	}
	a, b := instance(), instance()
	at := time.Now().Add(-time.Hour)
	d := decide(t, a, login("rae", "216.160.83.56", "rae-laptop", at))
	record(t, b, outcome(features.LoginSucceeded, "rae", "216.160.83.56", "rae-laptop", &d, at))
	if got, want := learnedOf(t, b, "rae"), (learned{logins: 1, history: 1, successes: 1}); got != want {
		t.Fatalf("after the outcome on another instance: %+v, want %+v", got, want)
	}
}

// TestConcurrentOutcomesTeachOnce: the same outcome delivered many times at once (retries) teaches once.
func TestConcurrentOutcomesTeachOnce(t *testing.T) {
	e := newEngine(t)
	at := time.Now().Add(-time.Hour)
	ev := login("sol", "216.160.83.56", "sol-laptop", at)
	ev.HasCredentials, ev.CredentialsValid = false, false
	d := decide(t, e, ev)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.Record(outcome(features.LoginSucceeded, "sol", "216.160.83.56", "sol-laptop", &d, at))
		}()
	}
	wg.Wait()
	if got, want := learnedOf(t, e, "sol"), (learned{logins: 1, history: 1, successes: 1}); got != want {
		t.Fatalf("16 deliveries of one outcome: %+v, want %+v", got, want)
	}
}
