package useragent

import (
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

var sinkInfo *Info

// Figures (2-core AMD EPYC, go test -bench . -benchmem):
//
//	BenchmarkLookupCached-2               14.6 ns/op      0 B/op   0 allocs/op
//	BenchmarkLookupUncached/chrome-2   1,368,828 ns/op   3164 B/op  38 allocs/op
//	BenchmarkLookupUncached/iphone-2   1,530,324 ns/op   1474 B/op  43 allocs/op
//	BenchmarkLookupUncached/curl-2       265,212 ns/op    998 B/op  29 allocs/op
//
// With the first-sight check and the doorkeeper (2026-12-05, load average ~1; BENCHMARKS.md, "User agents under
// a rotation attack"):
//
//	BenchmarkObviousBot/chrome-2          376-387 ns/op      0 B/op   0 allocs/op
//	BenchmarkObviousBot/googlebot-2       192-213 ns/op      0 B/op   0 allocs/op
//	BenchmarkLookupFirstSight-2           414-498 ns/op      0 B/op   0 allocs/op

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

// BenchmarkLookupFirstSight is the request path for a user agent never seen before on a background parser, as
// in a rotation attack: the first-sight check and the doorkeeper, nothing cached, nothing queued. Each user agent
// is new: a counter rewritten in one buffer, which the string aliases as a request's user agent aliases the
// request's buffer.
func BenchmarkLookupFirstSight(b *testing.B) {
	p := NewBackground(0, 1)
	const prefix = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0."
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = append(strconv.AppendInt(append(buf[:0], prefix...), int64(i), 10), " Safari/537.36"...)
		sinkInfo = p.Lookup(unsafe.String(&buf[0], len(buf)))
	}
}
