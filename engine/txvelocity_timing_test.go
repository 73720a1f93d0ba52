package engine_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
)

func checkoutEvent(user, ip, device string, amount float64, at time.Time) *features.Event {
	return &features.Event{Type: features.Checkout, UserID: user, IP: netip.MustParseAddr(ip), DeviceID: device,
		Tenant: "default", Time: at.UnixNano(), Amount: amount, HasAmount: true, Currency: "EUR"}
}

func registrationEvent(user, ip, device string, at time.Time) *features.Event {
	return &features.Event{Type: features.Registration, UserID: user, IP: netip.MustParseAddr(ip), DeviceID: device,
		Tenant: "default", Time: at.UnixNano()}
}

// BenchmarkDecideTransactions measures a login, a checkout and a registration side by side, over the same warm
// population as BenchmarkDecide: a checkout and a registration are read and counted twice (their own keys, then
// their scope's), a login once, so the difference is the cost of the second store round.
func BenchmarkDecideTransactions(b *testing.B) {
	ips := []string{"216.160.83.56", "89.160.20.112", "2.125.160.216", "175.16.199.1"}
	const users = 1000
	cases := []struct {
		name string
		make func(i int, at time.Time) *features.Event
	}{
		{"login", func(i int, at time.Time) *features.Event {
			return login(fmt.Sprintf("user-%d", i), ips[i%len(ips)], fmt.Sprintf("dev-%d", i), at)
		}},
		{"checkout", func(i int, at time.Time) *features.Event {
			return checkoutEvent(fmt.Sprintf("user-%d", i), ips[i%len(ips)], fmt.Sprintf("dev-%d", i), float64(5+i%200), at)
		}},
		{"registration", func(i int, at time.Time) *features.Event {
			return registrationEvent(fmt.Sprintf("new-%d", i), ips[i%len(ips)], fmt.Sprintf("new-dev-%d", i), at)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			e := newEngine(b)
			base := time.Now().Add(-time.Hour)
			evs := make([]*features.Event, users)
			var d engine.Decision
			for i := range evs {
				ev := *login(fmt.Sprintf("user-%d", i), ips[i%len(ips)], fmt.Sprintf("dev-%d", i), base)
				if err := e.Decide(&ev, &d); err != nil {
					b.Fatal(err)
				}
				evs[i] = c.make(i, base)
				ev = *evs[i] // once before timing, so that the timed loop meets warm records
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
		})
	}
}
