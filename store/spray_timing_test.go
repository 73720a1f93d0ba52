package store

import (
	"runtime"
	"testing"
)

// BenchmarkMemorySpray sprays 10 M never-seen users, addresses, subnets and devices, each user logging in
// once (a profile), into state bounded at 1 M keys per table and 1 M profiles, and reports the live heap once
// every table is full (after 2 M events) and at the end: bounded tables keep it flat whatever the spray.
//
//	go test ./store -run '^$' -bench MemorySpray -benchtime 1x
//
// It takes about four minutes and 2.5 GB, so -short (as `make bench` runs) skips it.
func BenchmarkMemorySpray(b *testing.B) {
	if testing.Short() {
		b.Skip("sprays 10 M keys for minutes; run it without -short")
	}
	const bound, full, total = 1 << 20, 2_000_000, 10_000_000
	heapMiB := func() float64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc) / (1 << 20)
	}
	for b.Loop() {
		m := NewBoundedMemory(bound, bound)
		var out Reading
		var atFull float64
		for i := uint64(1); i <= total; i++ {
			k := mix(i)
			s := Subjects{User: k, IP: mix(k), Device: mix(k ^ 1), Subnet: mix(k ^ 2), ASN: i % 60_000,
				HasUser: true, HasIP: true, HasDevice: true, HasSubnet: true, HasASN: true, Country: [2]byte{'U', 'S'}}
			at := int64(t0 + i/2_000) // 2,000 events a second of event time
			m.Observe(s, at, SetOf(Attempts), &out)
			m.Apply(k, ProfileOp{Kind: OpLogin, At: at, Device: s.Device, HasDevice: true})
			if i == full {
				atFull = heapMiB()
			}
		}
		atEnd := heapMiB()
		b.ReportMetric(atFull, "MiB-heap-at-2M")
		b.ReportMetric(atEnd, "MiB-heap-at-10M")
		b.ReportMetric(100*(atEnd/atFull-1), "%-growth")
		runtime.KeepAlive(m)
	}
}
