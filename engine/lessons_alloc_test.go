//go:build !race

package engine_test

import (
	"testing"
	"time"

	"github.com/riskd/riskd/features"
)

// TestRecordOutcomeAllocations guards the outcome path: an mfa_passed and a login_succeeded naming a decision
// (its evaluation id read and looked up), and one with an id that is not hexadecimal, allocate nothing.
func TestRecordOutcomeAllocations(t *testing.T) {
	e := newEngine(t)
	at := time.Now().Add(-time.Hour)
	d := decide(t, e, login("tao", "216.160.83.56", "tao-laptop", at))
	outcomes := []features.Outcome{
		*outcome(features.MFAPassed, "tao", "216.160.83.56", "tao-laptop", &d, at),
		*outcome(features.LoginSucceeded, "tao", "216.160.83.56", "tao-laptop", &d, at),
		*outcome(features.LoginSucceeded, "tao", "216.160.83.56", "tao-laptop", nil, at),
	}
	outcomes[2].EvaluationID = "not-an-id"
	var o features.Outcome
	run := func() {
		for i := range outcomes {
			o = outcomes[i]
			if err := e.Record(&o); err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Fatalf("Record allocates %.1f times per 3 outcomes, want 0", n)
	}
}
