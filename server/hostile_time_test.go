package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sprayAddr is the address a password spray comes from in these tests (Linköping, SE, in the test databases).
const sprayAddr = "89.160.20.112"

// sprayFeatures sends a password spray to a fresh server: a failed login stamped first after now (nil: no
// timestamp), then 60 failed logins of other users from the same address, the last one explained. It returns
// the velocity features (per IP, subnet, ASN and user) the last one read.
func sprayFeatures(t *testing.T, first *time.Duration) map[string]float64 {
	t.Helper()
	ts := start(t)
	ev := map[string]any{"type": "login", "user_id": "early", "ip": sprayAddr, "credentials_valid": false}
	if first != nil {
		ev["timestamp"] = time.Now().Add(*first).UTC().Format(time.RFC3339Nano)
	}
	ts.decide(ev)
	for i := range 59 {
		ts.decide(map[string]any{"type": "login", "user_id": fmt.Sprintf("user-%d", i), "ip": sprayAddr, "credentials_valid": false})
	}
	status, m := ts.post("/v1/decide?explain=1", map[string]any{"type": "login", "user_id": "user-59", "ip": sprayAddr, "credentials_valid": false})
	if status != http.StatusOK {
		t.Fatalf("explain: status %d: %v", status, m)
	}
	f, ok := m["features"].(map[string]any)
	if !ok {
		t.Fatalf("no features in %v", m)
	}
	out := map[string]float64{}
	for k, v := range f {
		if n, ok := v.(float64); ok && (strings.HasPrefix(k, "ip_") || strings.HasPrefix(k, "subnet_") ||
			strings.HasPrefix(k, "asn_") || strings.HasPrefix(k, "user_")) {
			out[k] = n
		}
	}
	return out
}

// TestHostileFastClockDoesNotBlindVelocity: one failed login stamped 290 s ahead (inside the 5 minutes of
// accepted skew) used to move the address's windows forward, so that the 60 failures that followed read
// ip_failures_1m 0, ip_attempts_1m 0 and ip_users_10m 7. The spray must read exactly as it does when the first
// login carries no timestamp.
func TestHostileFastClockDoesNotBlindVelocity(t *testing.T) {
	honest := sprayFeatures(t, nil)
	skew := 290 * time.Second
	skewed := sprayFeatures(t, &skew)
	for _, k := range []string{"ip_failures_1m", "ip_attempts_1m", "ip_failures_10m"} {
		if skewed[k] != 60 {
			t.Errorf("%s = %v after a login stamped +290 s, want 60", k, skewed[k])
		}
	}
	if len(honest) < 20 {
		t.Fatalf("only %d velocity features in the explanation: %v", len(honest), honest)
	}
	for k, want := range honest {
		if skewed[k] != want {
			t.Errorf("%s = %v after a login stamped +290 s, want %v as without the skew", k, skewed[k], want)
		}
	}
}

// TestHostileFailureReportedTwiceCountsOnce: each failed login told to the decision (credentials_valid: false)
// and then reported as login_failed with its evaluation_id is one failure, not two (ip_failures_10m read 120
// for 60 attempts).
func TestHostileFailureReportedTwiceCountsOnce(t *testing.T) {
	ts := start(t)
	for i := range 60 {
		user := fmt.Sprintf("user-%d", i)
		d := ts.decide(map[string]any{"type": "login", "user_id": user, "ip": sprayAddr, "credentials_valid": false})
		id, _ := d.raw["evaluation_id"].(string)
		if id == "" {
			t.Fatalf("no evaluation_id in %v", d.raw)
		}
		ts.event(map[string]any{"type": "login_failed", "user_id": user, "ip": sprayAddr, "evaluation_id": id})
	}
	status, m := ts.post("/v1/decide?explain=1", map[string]any{"type": "login", "user_id": "probe", "ip": sprayAddr})
	if status != http.StatusOK {
		t.Fatalf("explain: status %d: %v", status, m)
	}
	f, _ := m["features"].(map[string]any)
	if got := f["ip_failures_10m"]; got != float64(60) {
		t.Fatalf("ip_failures_10m = %v for 60 failed logins each reported twice, want 60", got)
	}
	// Without the evaluation id nothing ties the report to its decision: it counts.
	ts.event(map[string]any{"type": "login_failed", "user_id": "user-0", "ip": sprayAddr})
	_, m = ts.post("/v1/decide?explain=1", map[string]any{"type": "login", "user_id": "probe", "ip": sprayAddr})
	f, _ = m["features"].(map[string]any)
	if got := f["ip_failures_10m"]; got != float64(61) {
		t.Fatalf("ip_failures_10m = %v after a login_failed without evaluation_id, want 61", got)
	}
}
