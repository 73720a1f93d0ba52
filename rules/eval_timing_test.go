package rules_test

import (
	"testing"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// typicalVector is a returning user's login from a known device and place: what most decisions look like.
func typicalVector() features.Vector {
	return features.Vector{
		Event: "login", Tenant: "default", Channel: "web", MFAPreference: "adaptive",
		CredentialsKnown: true, CredentialsValid: true, HasDevice: true, HasUserAgent: true, Hour: 14,
		GeoKnown: true, Country: "US", Region: "WA", City: "Milton", Lat: 47.2513, Lon: -122.3149, AccuracyKm: 22,
		ASN: 209, ASOrg: "CenturyLink",
		UserAttempts1m: 1, UserAttempts10m: 1, UserAttempts1h: 2, UserAttempts24h: 3,
		IPAttempts1m: 1, IPAttempts10m: 2, IPAttempts1h: 2, IPAttempts24h: 4, DeviceAttempts1m: 1, DeviceAttempts1h: 2,
		UserLogins: 12, AccountAgeDays: 41.5, KnownDevices: 2, CountriesSeen: 1, SinceLastLoginH: 20.5,
	}
}

var sinkResult rules.Result

// BenchmarkEvaluate evaluates the built-in rule set (15 rules) over a typical login, on the expr VM only and
// natively (every built-in rule compiles natively).
//
// Before/after native evaluation (AMD EPYC, 2 vCPUs shared with other work, go1.26.8, medians of -count 10,
// 5 for Parallel; "before" is the rules package without native.go, whose Evaluate is the vm case):
//
//	BenchmarkEvaluate (before)         664 ns/op   0 B/op   0 allocs/op
//	BenchmarkEvaluate/vm-2             660 ns/op   0 B/op   0 allocs/op
//	BenchmarkEvaluate/native-2          79 ns/op   0 B/op   0 allocs/op
//	BenchmarkEvaluateParallel/vm-2     303 ns/op   0 B/op   0 allocs/op
//	BenchmarkEvaluateParallel/native-2  51 ns/op   0 B/op   0 allocs/op
//
// The whole decision, go test ./engine -run '^$' -bench Decide -benchmem -count 5 (twice, interleaved):
// BenchmarkDecide 1975 -> 1367 ns/op (medians of 10), 0 allocs/op before and after.
func BenchmarkEvaluate(b *testing.B) {
	set, err := rules.Default()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		set  *rules.Set
	}{{"vm", rules.VMOnly(set)}, {"native", set}} {
		b.Run(c.name, func(b *testing.B) {
			e := rules.NewEvaluator()
			e.Vector = typicalVector()
			var res rules.Result
			b.ReportAllocs()
			for b.Loop() {
				c.set.Evaluate(e, features.Login, &res)
			}
			sinkResult = res
		})
	}
}

func BenchmarkEvaluateParallel(b *testing.B) {
	set, err := rules.Default()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		set  *rules.Set
	}{{"vm", rules.VMOnly(set)}, {"native", set}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				e := rules.NewEvaluator()
				e.Vector = typicalVector()
				var res rules.Result
				for pb.Next() {
					c.set.Evaluate(e, features.Login, &res)
				}
			})
		})
	}
}
