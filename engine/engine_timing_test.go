package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
)

// BenchmarkDecide measures one in-process decision with the default rules over a warm population: users with
// learned profiles logging in again from their usual devices and places.
func BenchmarkDecide(b *testing.B) {
	e := newEngine(b)
	base := time.Now().Add(-time.Hour)
	ips := []string{"216.160.83.56", "89.160.20.112", "2.125.160.216", "175.16.199.1"}
	const users = 1000
	evs := make([]*features.Event, users)
	var d engine.Decision
	for i := range evs {
		evs[i] = login(fmt.Sprintf("user-%d", i), ips[i%len(ips)], fmt.Sprintf("dev-%d", i), base)
		ev := *evs[i]
		if err := e.Decide(&ev, &d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ev := *evs[i%users]
		ev.Time = base.Add(time.Duration(i) * time.Microsecond).UnixNano()
		if err := e.Decide(&ev, &d); err != nil {
			b.Fatal(err)
		}
	}
}
