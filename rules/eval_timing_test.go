package rules_test

import (
	"os"
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
				c.set.Evaluate(e, rules.Input{Type: features.Login}, &res)
			}
			sinkResult = res
		})
	}
}

// BenchmarkEvaluateTenant evaluates the built-in rules through a tenant's view (an overlay that disables one
// rule and adds one, beside two other tenants), with an expiring rule: what a request pays for overlays and
// expiry is a scan of a few tenant names and one comparison per rule.
//
// Tenant views, per-event thresholds and expiry, before (Evaluate by event type only) and after; medians of
// 8 interleaved runs on the shared 2-vCPU machine, so ±10% is noise:
//
//	BenchmarkEvaluate/native-2 (before)   72 ns/op   0 B/op   0 allocs/op
//	BenchmarkEvaluate/native-2            76 ns/op   0 B/op   0 allocs/op
//	BenchmarkEvaluateTenant-2             76 ns/op   0 B/op   0 allocs/op
func BenchmarkEvaluateTenant(b *testing.B) {
	src, err := os.ReadFile("default.yaml")
	if err != nil {
		b.Fatal(err)
	}
	src = append(src, `
tenants:
  brand-a:
    disable: [hosting_network]
    thresholds: {events: {login: {step_up: 50}}}
    rules: [{id: brand_a_vpn, when: is_vpn, score: 45, expires: 2999-01-01T00:00:00Z}]
  brand-b: {disable: [ip_burst]}
  brand-c: {thresholds: {step_up: 30}}
`...)
	set, err := rules.Compile("tenants.yaml", src)
	if err != nil {
		b.Fatal(err)
	}
	e := rules.NewEvaluator()
	e.Vector = typicalVector()
	var res rules.Result
	in := rules.Input{Type: features.Login, Tenant: "brand-a", Time: 1_700_000_000_000_000_000}
	b.ReportAllocs()
	for b.Loop() {
		set.Evaluate(e, in, &res)
	}
	sinkResult = res
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
					c.set.Evaluate(e, rules.Input{Type: features.Login}, &res)
				}
			})
		})
	}
}
