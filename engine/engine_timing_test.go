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
	ips := []string{"216.160.83.56", "89.160.20.112", "2.125.160.216", "175.16.199.1"}
	b.Run("login", func(b *testing.B) {
		benchmarkDecide(b, newEngine(b), func(i int, at time.Time) *features.Event {
			return login(fmt.Sprintf("user-%d", i), ips[i%len(ips)], fmt.Sprintf("dev-%d", i), at)
		})
	})
	// A returning customer's checkout: an amount in another currency than the reporting one, and the attributes
	// a shop sends, which the built-in rules read with attr().
	b.Run("checkout", func(b *testing.B) {
		benchmarkDecide(b, newEngine(b), func(i int, at time.Time) *features.Event {
			return checkout(fmt.Sprintf("user-%d", i), ips[i%len(ips)], fmt.Sprintf("dev-%d", i), 49.9, "USD", at)
		})
	})
	// A new account's registration: read and counted twice, under its own keys and under the registration
	// scope's, where a login is counted once.
	b.Run("registration", func(b *testing.B) {
		benchmarkDecide(b, newEngine(b), func(i int, at time.Time) *features.Event {
			return registrationEvent(fmt.Sprintf("new-%d", i), ips[i%len(ips)], fmt.Sprintf("new-dev-%d", i), at)
		})
	})
}

// benchmarkDecide decides on the events of 1,000 users made by event, each user known from one decision first.
func benchmarkDecide(b *testing.B, e *engine.Engine, event func(i int, at time.Time) *features.Event) {
	base := time.Now().Add(-time.Hour)
	const users = 1000
	evs := make([]*features.Event, users)
	var d engine.Decision
	for i := range evs {
		if err := e.Decide(login(fmt.Sprintf("user-%d", i), "216.160.83.56", fmt.Sprintf("dev-%d", i), base.Add(-time.Minute)), &d); err != nil {
			b.Fatal(err)
		}
		evs[i] = event(i, base)
		ev := *evs[i]
		if err := e.Decide(&ev, &d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for i := 0; b.Loop(); i++ {
		ev := *evs[i%users]
		ev.Time = base.Add(time.Duration(i) * time.Microsecond).UnixNano()
		if err := e.Decide(&ev, &d); err != nil {
			b.Fatal(err)
		}
	}
}
