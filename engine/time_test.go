package engine_test

import (
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/store"
	"github.com/riskd/riskd/store/storetest"
)

// The state backends the time tests run against: in memory, and a real redis-server.
var timeBackends = []struct {
	name string
	open func(t *testing.T) store.State
}{
	{"memory", func(*testing.T) store.State { return features.NewState(0) }},
	{"redis", func(t *testing.T) store.State {
		srv := storetest.StartRedis(t)
		r, err := store.OpenRedis(store.RedisConfig{Addrs: []string{srv.Addr}, Timeout: time.Second, KeyCheck: []byte("time"),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}},
}

// clockedEngine is an engine over st whose arrival clock always reads now.
func clockedEngine(t *testing.T, st store.State, now time.Time) *engine.Engine {
	return enginetest.New(t, nil, func(c *engine.Config) {
		c.Extractor = features.NewExtractor(features.NewHasher([]byte("test")), st, c.Extractor.Geo())
		c.Now = func() time.Time { return now }
	})
}

// failedLogin is a login with wrong credentials from the attacker's address, with no timestamp (arrival time).
func failedLogin(user string) *features.Event {
	return &features.Event{Type: features.Login, UserID: user, IP: netip.MustParseAddr("89.160.20.112"), Tenant: "default",
		HasCredentials: true, CredentialsValid: false}
}

// sprayVector replays a password spray on a fresh engine whose clock reads now: a first failed login stamped
// now+first (0: no timestamp), then 60 failed logins of 60 other users from the same address, the last one
// explained. It returns the vector that last login read.
func sprayVector(t *testing.T, st store.State, now time.Time, first time.Duration) features.Vector {
	t.Helper()
	e := clockedEngine(t, st, now)
	ev := failedLogin("early")
	if first != 0 {
		ev.Time = now.Add(first).UnixNano()
	}
	decide(t, e, ev)
	for i := range 59 {
		decide(t, e, failedLogin("user-"+strconv.Itoa(i)))
	}
	d := engine.Decision{Explain: new(engine.Explanation)}
	if err := e.Decide(failedLogin("user-59"), &d); err != nil {
		t.Fatal(err)
	}
	return d.Explain.Vector
}

// TestFastClockDoesNotBlindVelocity: a timestamp ahead of arrival, inside the accepted skew, must not move the
// windows and stamped sets forward. Before, one failed login stamped now+290 s left the next 60 failures from its
// address reading ip_failures_1m 0, ip_attempts_1m 0 and ip_users_10m 7: the 1-minute rings had moved past
// arrival time, and the sets' slots were stamped in the future. The spray must read as it does when the first
// login carries the arrival time: every counter and set the same.
func TestFastClockDoesNotBlindVelocity(t *testing.T) {
	now := time.Now().Truncate(time.Minute).Add(-time.Hour + 30*time.Second)
	for _, b := range timeBackends {
		t.Run(b.name, func(t *testing.T) {
			honest := sprayVector(t, b.open(t), now, 0)
			for _, skew := range []time.Duration{290 * time.Second, 5 * time.Minute, time.Second} {
				skewed := sprayVector(t, b.open(t), now, skew)
				if skewed.IPFailures1m != 60 || skewed.IPAttempts1m != 60 || skewed.IPFailures10m != 60 {
					t.Errorf("first login stamped +%v: ip_failures_1m %d, ip_attempts_1m %d, ip_failures_10m %d, want 60 each",
						skew, skewed.IPFailures1m, skewed.IPAttempts1m, skewed.IPFailures10m)
				}
				if skewed.IPUsers10m != honest.IPUsers10m {
					t.Errorf("first login stamped +%v: ip_users_10m %d, want %d as without the skew", skew, skewed.IPUsers10m, honest.IPUsers10m)
				}
				if skewed != honest {
					t.Errorf("first login stamped +%v: the vector differs from the one without the skew:\n got %+v\nwant %+v", skew, skewed, honest)
				}
			}
			if honest.IPUsers10m < 50 {
				t.Errorf("ip_users_10m %d for 60 users", honest.IPUsers10m)
			}
		})
	}
}

// TestPastTimestampsStillCount: events stamped in the past (imports, backtests, late deliveries) keep their own
// time: a burst an hour ago reads in its own windows, not at arrival.
func TestPastTimestampsStillCount(t *testing.T) {
	now := time.Now().Truncate(time.Minute).Add(30 * time.Second)
	then := now.Add(-time.Hour)
	e := clockedEngine(t, features.NewState(0), now)
	for i := range 10 {
		ev := failedLogin("user-" + strconv.Itoa(i))
		ev.Time = then.UnixNano()
		decide(t, e, ev)
	}
	probe := func(at time.Time) features.Vector {
		ev := failedLogin("probe")
		ev.Time = at.UnixNano()
		d := engine.Decision{Explain: new(engine.Explanation)}
		if err := e.Decide(ev, &d); err != nil {
			t.Fatal(err)
		}
		return d.Explain.Vector
	}
	if v := probe(then); v.IPFailures1m != 10 || v.Hour != then.UTC().Hour() {
		t.Fatalf("read at the burst's time: ip_failures_1m %d, hour %d; want 10, %d", v.IPFailures1m, v.Hour, then.UTC().Hour())
	}
	if v := probe(now); v.IPFailures1m != 0 || v.IPFailures24h != 11 {
		t.Fatalf("read at arrival: ip_failures_1m %d, ip_failures_24h %d; want 0 and 11", v.IPFailures1m, v.IPFailures24h)
	}
}

// failureOutcome reports a failed attempt of user from the attacker's address, naming evaluation d (nil: none).
func failureOutcome(typ features.OutcomeType, user string, d *engine.Decision) *features.Outcome {
	o := &features.Outcome{Type: typ, UserID: user, IP: netip.MustParseAddr("89.160.20.112"), Tenant: "default"}
	if d != nil {
		o.EvaluationID = strconv.FormatUint(d.EvaluationID, 16)
	}
	return o
}

// probeFailures returns the address's failures in the last 10 minutes, as a login from it reads them.
func probeFailures(t *testing.T, e *engine.Engine) int {
	t.Helper()
	d := engine.Decision{Explain: new(engine.Explanation)}
	ev := failedLogin("probe")
	ev.HasCredentials = false
	if err := e.Decide(ev, &d); err != nil {
		t.Fatal(err)
	}
	return d.Explain.Vector.IPFailures10m
}

// TestFailureReportedTwiceCountsOnce: a failed login reported by its decision (credentials_valid: false) and
// again by login_failed naming that decision's evaluation is one failure. Before, 60 such attempts read as
// ip_failures_10m 120.
func TestFailureReportedTwiceCountsOnce(t *testing.T) {
	now := time.Now().Truncate(time.Minute).Add(-time.Hour + 30*time.Second)
	for _, b := range timeBackends {
		t.Run(b.name, func(t *testing.T) {
			e := clockedEngine(t, b.open(t), now)
			for i := range 60 {
				user := "user-" + strconv.Itoa(i)
				d := decide(t, e, failedLogin(user))
				record(t, e, failureOutcome(features.LoginFailed, user, &d))
			}
			if got := probeFailures(t, e); got != 60 {
				t.Fatalf("60 failed logins, each reported by its decision and its login_failed: ip_failures_10m %d, want 60", got)
			}
		})
	}
}

// TestFailureOutcomesCount: the failures a decision did not count are counted by their outcomes: login_failed
// after a decision that did not know the credentials (once, however often it is delivered), login_failed without
// an evaluation id (always: nothing tells it from another attempt), and every mfa_failed (a second factor may be
// tried several times within one login).
func TestFailureOutcomesCount(t *testing.T) {
	now := time.Now().Truncate(time.Minute).Add(-time.Hour + 30*time.Second)
	e := clockedEngine(t, features.NewState(0), now)
	unknown := failedLogin("ann")
	unknown.HasCredentials = false
	d := decide(t, e, unknown)
	record(t, e, failureOutcome(features.LoginFailed, "ann", &d))
	record(t, e, failureOutcome(features.LoginFailed, "ann", &d)) // delivered twice
	if got := probeFailures(t, e); got != 1 {
		t.Fatalf("login_failed for a decision without credentials, delivered twice: %d failures, want 1", got)
	}
	record(t, e, failureOutcome(features.LoginFailed, "ann", nil))
	record(t, e, failureOutcome(features.LoginFailed, "ann", nil))
	if got := probeFailures(t, e); got != 3 {
		t.Fatalf("two login_failed without evaluation id: %d failures, want 3", got)
	}
	valid := failedLogin("bea")
	valid.CredentialsValid = true
	d = decide(t, e, valid)
	record(t, e, failureOutcome(features.MFAFailed, "bea", &d))
	record(t, e, failureOutcome(features.MFAFailed, "bea", &d))
	if got := probeFailures(t, e); got != 5 {
		t.Fatalf("two mfa_failed of one login: %d failures, want 5", got)
	}
}

// TestFastClockOutcome: an outcome stamped ahead of arrival is counted at arrival too.
func TestFastClockOutcome(t *testing.T) {
	now := time.Now().Truncate(time.Minute).Add(-time.Hour + 30*time.Second)
	e := clockedEngine(t, features.NewState(0), now)
	o := failureOutcome(features.LoginFailed, "early", nil)
	o.Time = now.Add(290 * time.Second).UnixNano()
	record(t, e, o)
	for i := range 59 {
		decide(t, e, failedLogin("user-"+strconv.Itoa(i)))
	}
	d := engine.Decision{Explain: new(engine.Explanation)}
	if err := e.Decide(failedLogin("user-59"), &d); err != nil {
		t.Fatal(err)
	}
	if v := d.Explain.Vector; v.IPFailures1m != 60 || v.IPAttempts1m != 59 {
		t.Fatalf("after a login_failed stamped +290 s: ip_failures_1m %d, ip_attempts_1m %d; want 60 and 59", v.IPFailures1m, v.IPAttempts1m)
	}
}
