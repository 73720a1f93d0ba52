package engine_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// tenantSet is the built-in set extended with overlays for n tenants brand-0 … brand-(n-1).
func tenantSet(t testing.TB, n int) *rules.Set {
	t.Helper()
	var b strings.Builder
	b.WriteString("extends: builtin\ntenants:\n")
	for i := range n {
		fmt.Fprintf(&b, "  brand-%d: {disable: [new_country]}\n", i)
	}
	set, err := rules.Compile("tenants.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func scrape(reg *metrics.Set) string {
	var b bytes.Buffer
	reg.WritePrometheus(&b)
	return b.String()
}

// TestDecisionsByEventAndTenant: riskd_decisions_total counts by decision, event type and tenant; tenants the
// live set has no overlay for count as "other", so the series stay bounded by the rule set, and events that
// name no tenant count as "default". A set with many tenants (looked up through a map) labels them the same.
func TestDecisionsByEventAndTenant(t *testing.T) {
	for _, n := range []int{2, 12} {
		t.Run(fmt.Sprintf("%d tenants", n), func(t *testing.T) {
			reg := metrics.NewSet()
			e := enginetest.New(t, reg)
			e.SwapRules(tenantSet(t, n))
			at := time.Now().Add(-time.Hour)
			var d engine.Decision
			decide := func(tenant string, typ features.EventType, user string) {
				ev := login(user, "216.160.83.56", user+"-device", at)
				ev.Tenant, ev.Type = tenant, typ
				if typ == features.Checkout {
					ev.Amount, ev.HasAmount, ev.Currency = 10, true, "EUR"
				}
				if err := e.Decide(ev, &d); err != nil {
					t.Fatal(err)
				}
			}
			decide("brand-1", features.Login, "a")
			decide("brand-1", features.Login, "b")
			decide("brand-0", features.Checkout, "c")
			decide("someone-else", features.Login, "d")
			decide("yet-another", features.Login, "e")
			decide("", features.Registration, "f")
			out := scrape(reg)
			for _, want := range []string{
				`riskd_decisions_total{decision="allow",event="login",tenant="brand-1"} 2`,
				`riskd_decisions_total{decision="allow",event="checkout",tenant="brand-0"} 1`,
				`riskd_decisions_total{decision="allow",event="login",tenant="other"} 2`,
				`riskd_decisions_total{decision="allow",event="registration",tenant="default"} 1`,
				`riskd_decisions_total{decision="deny",event="login",tenant="brand-1"} 0`,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("metrics lack %s", want)
				}
			}
			for _, never := range []string{`tenant="someone-else"`, `tenant="yet-another"`} {
				if strings.Contains(out, never) {
					t.Errorf("metrics name a tenant the set does not: %s", never)
				}
			}
		})
	}
}
