//go:build !race

package engine_test

import (
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
)

// TestDecideTransactionAllocations: a checkout with attributes and a registration, each observed a second time
// under its scope's keys, allocate nothing, and a payment_declined outcome neither.
func TestDecideTransactionAllocations(t *testing.T) {
	e := enginetest.New(t, metrics.NewSet())
	base := time.Now().Add(-time.Hour)
	var d engine.Decision
	for _, tmpl := range []*features.Event{checkoutEvent("lee", "216.160.83.56", "lee-laptop", 4.5, base), registrationEvent("new-lee", "89.160.20.112", "lee-phone", base)} {
		tmpl.Attributes[0] = features.Attribute{Key: "email_domain", Value: "example.com"}
		tmpl.NumAttributes = 1
		if n := decideAllocs(t, e, tmpl, &d); n != 0 {
			t.Fatalf("a %s decision allocates %.1f times per call, want 0", tmpl.Type, n)
		}
	}
	o := features.Outcome{Type: features.PaymentDeclined, UserID: "lee", DeviceID: "lee-laptop", Tenant: "default", Time: base.UnixNano()}
	record := func() {
		out := o
		if err := e.Record(&out); err != nil {
			t.Fatal(err)
		}
	}
	record()
	if n := testing.AllocsPerRun(1000, record); n != 0 {
		t.Fatalf("a payment_declined outcome allocates %.1f times, want 0", n)
	}
}
