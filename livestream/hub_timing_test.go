package livestream_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/livestream"
	"github.com/riskd/riskd/rules"
)

// BenchmarkPublish is what the live stream adds to a decision: one atomic load with no viewer; with a viewer,
// a copy of the entry into the ring under its slot's lock (the fan-out reading the ring meanwhile, on its own
// goroutine).
func BenchmarkPublish(b *testing.B) {
	set, err := rules.Default()
	if err != nil {
		b.Fatal(err)
	}
	var rec decisionlog.Record
	v := features.Vector{Tenant: "brand-a", Event: "login", Country: "SE"}
	rec.Fill(time.Now().UnixNano(), 1, 2, rules.Allow, 10, set, []int{0, 3}, &v)
	x := &livestream.Extra{IP: netip.MustParseAddr("89.160.20.112"), Took: time.Microsecond,
		Reasons: []livestream.Reason{{Code: "a", Rule: "b", Score: 10}, {Code: "c", Rule: "d", Score: 20}}}
	for _, viewer := range []bool{false, true} {
		name := "no_viewer"
		if viewer {
			name = "viewer"
		}
		b.Run(name, func(b *testing.B) {
			h := livestream.New(livestream.Config{})
			defer h.Close()
			if viewer {
				if _, err := h.Subscribe(livestream.Filter{Tenant: "brand-b"}); err != nil { // sees nothing: no rendering
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				h.Publish(&rec, x)
			}
		})
	}
}
