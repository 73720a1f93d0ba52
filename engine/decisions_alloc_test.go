//go:build !race

package engine_test

import (
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
)

// TestDecisionCountersAllocateNothing: finding a decision's counter by tenant and event type costs no
// allocation, for a tenant of the set and one it does not name, with few tenants (scanned) and many (a map).
func TestDecisionCountersAllocateNothing(t *testing.T) {
	for _, n := range []int{2, 12} {
		e := enginetest.New(t, metrics.NewSet())
		e.SwapRules(tenantSet(t, n))
		for _, tenant := range []string{"brand-1", "unnamed", ""} {
			tmpl := login("lee", "216.160.83.56", "lee-laptop", time.Now().Add(-time.Hour))
			tmpl.Tenant = tenant
			var d engine.Decision
			if a := decideAllocs(t, e, tmpl, &d); a != 0 {
				t.Errorf("%d tenants, tenant %q: Decide allocates %v times", n, tenant, a)
			}
		}
	}
}
