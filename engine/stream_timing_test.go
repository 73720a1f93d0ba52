package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/livestream"
)

// BenchmarkDecideStream is BenchmarkDecide without a viewer of the live stream, with one that reads everything
// it is sent (at most its rate, 500 a second: the rest is dropped before it is copied), and with one that never
// reads (its queue full, every decision dropped). The decision path's share is the copy into the ring; the
// fan-out and the rendering run on their own goroutine.
func BenchmarkDecideStream(b *testing.B) {
	for _, mode := range []string{"no_viewer", "reading_viewer", "stalled_viewer"} {
		b.Run(mode, func(b *testing.B) {
			e := enginetest.New(b, nil)
			switch mode {
			case "reading_viewer":
				v, err := e.Stream().Subscribe(livestream.Filter{})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Stream().Unsubscribe(v)
				go func() {
					for {
						select {
						case <-v.Messages():
						case <-v.Done():
							return
						}
					}
				}()
			case "stalled_viewer":
				v, err := e.Stream().Subscribe(livestream.Filter{})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Stream().Unsubscribe(v)
			}
			ips := []string{"216.160.83.56", "89.160.20.112", "2.125.160.216", "175.16.199.1"}
			benchmarkDecide(b, e, func(i int, at time.Time) *features.Event {
				return login(fmt.Sprintf("user-%d", i), ips[i%len(ips)], fmt.Sprintf("dev-%d", i), at)
			})
			b.ReportMetric(float64(e.Stream().Dropped())/float64(b.N), "dropped/op")
		})
	}
}
