package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/store"
)

// TestEvaluationIDsNameTheirTenant: an id says, to an engine with the same hash key, which tenant's decision it
// names, whatever its flags; a neighbouring serial number under the same tag is no id of that tenant.
func TestEvaluationIDsNameTheirTenant(t *testing.T) {
	e := enginetest.New(t, nil)
	twin := enginetest.New(t, nil) // another instance sharing the hash key
	at := time.Now().Add(-time.Hour)
	for i := range 50 {
		ev := login(fmt.Sprint("u", i), "216.160.83.56", "d", at)
		ev.Tenant = "brand-a"
		ev.CredentialsValid = i%2 == 0 // half of them carry failedBit
		var d engine.Decision
		if err := e.Decide(ev, &d); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("%016x", d.EvaluationID)
		if !e.EvaluationOf(id, "brand-a") || !twin.EvaluationOf(id, "brand-a") {
			t.Fatalf("%s is not brand-a's", id)
		}
		if e.EvaluationOf(id, "brand-b") || e.EvaluationOf(fmt.Sprintf("%016x", d.EvaluationID+1), "brand-a") {
			t.Fatalf("%s (or its successor) accepted as another evaluation", id)
		}
	}
	if e.EvaluationOf("zz", "brand-a") || engine.ValidEvaluationID("0123456789abcdef0") || !engine.ValidEvaluationID("0123456789abcdef") {
		t.Fatal("evaluation id syntax")
	}
}

// TestTenantFailuresCountOncePerEvaluation: a failure a tenant key reports counts once for the evaluation it names,
// not at all without one or when the decision counted it; the identity server's failures always count.
func TestTenantFailuresCountOncePerEvaluation(t *testing.T) {
	e := enginetest.New(t, nil)
	at := time.Now().Add(-time.Hour)
	failures := func() int {
		var u store.UserData
		if _, err := e.Extractor().ExportUser("ron", time.Now().UnixNano(), &u); err != nil {
			t.Fatal(err)
		}
		return int(u.Velocity[store.Failures][store.Day])
	}
	decide := func(valid bool) string {
		ev := login("ron", "216.160.83.56", "d", at)
		ev.Tenant, ev.CredentialsValid = "brand-a", valid
		var d engine.Decision
		if err := e.Decide(ev, &d); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%016x", d.EvaluationID)
	}
	report := func(id string, scoped bool) {
		o := &features.Outcome{Type: features.MFAFailed, UserID: "ron", Tenant: "brand-a", EvaluationID: id, Time: at.UnixNano(), Scoped: scoped}
		if err := e.Record(o); err != nil {
			t.Fatal(err)
		}
	}
	ok, failed := decide(true), decide(false)
	if got := failures(); got != 1 {
		t.Fatalf("a decision with credentials_valid false counted %d failures", got)
	}
	steps := []struct {
		id     string
		scoped bool
		want   int
	}{
		{"", true, 1},     // a tenant key's failure without an evaluation: none
		{ok, true, 2},     // of an attempt of its own: one
		{ok, true, 2},     // again: none
		{failed, true, 2}, // of a decision that counted it: none
		{ok, false, 3},    // the identity server's: each one
		{ok, false, 4},
	}
	for i, s := range steps {
		report(s.id, s.scoped)
		if got := failures(); got != s.want {
			t.Fatalf("step %d (%+v): %d failures, want %d", i+1, s, got, s.want)
		}
	}
}
