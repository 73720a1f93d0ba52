//go:build !race

package engine_test

import (
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/lists"
)

// TestDecideAllocations guards the in-process decision: a returning user's login, with the default rules,
// real geo databases, metrics and the decision log on, allocates nothing.
func TestDecideAllocations(t *testing.T) {
	l := openLog(t)
	e := enginetest.New(t, metrics.NewSet(), func(c *engine.Config) { c.Log = l })
	var d engine.Decision
	if n := decideAllocs(t, e, login("lee", "216.160.83.56", "lee-laptop", time.Now().Add(-time.Hour)), &d); n != 0 {
		t.Fatalf("Decide allocates %.1f times per call, want 0", n)
	}
}

// decideAllocs returns the allocations of one decision of a copy of tmpl, measured after 100 decisions have
// brought the engine's state and buffers to their steady size; d holds the last decision.
func decideAllocs(t *testing.T, e *engine.Engine, tmpl *features.Event, d *engine.Decision) float64 {
	t.Helper()
	decide := func() {
		ev := *tmpl
		if err := e.Decide(&ev, d); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		decide()
	}
	return testing.AllocsPerRun(1000, decide)
}

// openLog opens a decision log in the test's directory, closed when the test ends.
func openLog(t *testing.T) *decisionlog.Log {
	t.Helper()
	l, err := decisionlog.Open(decisionlog.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestListAllocationsStayZero: list lookups and a matching exception add no allocation.
func TestListAllocationsStayZero(t *testing.T) {
	h := features.NewHasher([]byte("test"))
	reg := lists.NewRegistry(lists.Hashers{User: h.User, Device: h.Device}, nil)
	reg.Put("blocklist", lists.IP, []lists.Entry{{Value: "10.0.0.0/8"}})
	reg.Put("risky_asns", lists.ASN, []lists.Entry{{Value: "29518"}})
	reg.PutException(lists.Exception{ID: "x", Rules: []string{"risky_asn"}, User: "dee", Expires: time.Now().Add(time.Hour)})
	e := listEngine(t, reg, nil)
	tmpl := login("dee", "89.160.20.112", "dee-laptop", time.Now().Add(-time.Hour))
	var d engine.Decision
	run := func() {
		ev := *tmpl
		if err := e.Decide(&ev, &d); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		run()
	}
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Fatalf("a decision with lists and a matching exception allocates %v times", n)
	}
}

// TestCheckoutAllocations: a returning customer's checkout with an amount in another currency and attributes,
// read by attr() and looked up in a value list, allocates nothing.
func TestCheckoutAllocations(t *testing.T) {
	h := features.NewHasher([]byte("test"))
	reg := lists.NewRegistry(lists.Hashers{User: h.User, Device: h.Device}, nil)
	reg.Put("disposable_email_domains", lists.Value, []lists.Entry{{Value: "mailinator.com"}})
	l := openLog(t)
	e := enginetest.New(t, metrics.NewSet(), func(c *engine.Config) { c.Log, c.Lists = l, reg })
	base := time.Now().Add(-time.Hour)
	var d engine.Decision
	if err := e.Decide(login("lee", "216.160.83.56", "lee-laptop", base), &d); err != nil {
		t.Fatal(err)
	}
	if n := decideAllocs(t, e, checkout("lee", "216.160.83.56", "lee-laptop", 129.5, "USD", base), &d); n != 0 {
		t.Fatalf("a checkout allocates %.1f times per call, want 0", n)
	}
	if !hasReason(&d, "disposable_email_domain") || !hasReason(&d, "shipping_not_billing_country") {
		t.Fatalf("the attributes were not read: %+v", d.Reasons)
	}
}

func hasReason(d *engine.Decision, code string) bool {
	for _, r := range d.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}
