package useragent

import (
	"strconv"
	"strings"
	"testing"
)

var sinkInfo *Info

// Figures (2-core AMD EPYC, go test -bench . -benchmem):
//
//	BenchmarkLookupCached-2               14.6 ns/op      0 B/op   0 allocs/op
//	BenchmarkLookupUncached/chrome-2   1,368,828 ns/op   3164 B/op  38 allocs/op
//	BenchmarkLookupUncached/iphone-2   1,530,324 ns/op   1474 B/op  43 allocs/op
//	BenchmarkLookupUncached/curl-2       265,212 ns/op    998 B/op  29 allocs/op

// BenchmarkLookupCached is the request path in steady state.
func BenchmarkLookupCached(b *testing.B) {
	p := parser()
	ua := humanAgents[0].ua
	p.Lookup(ua)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var s *Info
		for pb.Next() {
			s = p.Lookup(ua)
		}
		sinkInfo = s
	})
}

// BenchmarkLookupUncached parses a user agent never seen before (a cache miss) each time.
func BenchmarkLookupUncached(b *testing.B) {
	for _, tc := range []struct{ name, ua string }{
		{"chrome", humanAgents[0].ua}, {"iphone", humanAgents[3].ua}, {"curl", "curl/8.5.0"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := parser()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				sinkInfo = p.Lookup(tc.ua + " n/" + strconv.Itoa(i))
			}
		})
	}
}

var sinkBool bool

// BenchmarkObviousBot is the first-sight check a cache miss pays before (instead of) a parse: a real browser's
// user agent, which every marker must be searched for, and a crawler's, found early.
func BenchmarkObviousBot(b *testing.B) {
	for _, tc := range []struct{ name, ua string }{
		{"chrome", humanAgents[0].ua}, {"iphone", humanAgents[3].ua}, {"googlebot", botAgents[len(botAgents)-2]},
		{"max", strings.Repeat("Mozilla/5.0 (X11) ", MaxLen/18)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkBool = obviousBot(tc.ua)
			}
		})
	}
}
