package store

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// Figures on the 2-core development machine, shared with other builds, so ranges over runs
// (go test ./store/ -run '^$' -bench Velocity -count 6), all 0 allocs/op:
//
//	Add/keys=1k           50-70 ns    Add/keys=64k           175-240 ns   (the 64k table misses the caches)
//	Read/keys=1k          64-80 ns    Read/keys=64k          185-260 ns
//	AddParallel/keys=1k   41-57 ns    AddParallel/keys=64k    72-180 ns
//	AddNewKeys (insert + evict in a full table)            400-550 ns
//	BytesPerKey           213 B/key (1M keys), 211 B/key (full 1<<20 table)
//
// Read went from 147 to 65 ns (keys=1k) when it stopped computing a ring slot per bucket for full-ring reads;
// AddNewKeys from 700-900 to ~450 ns when eviction sampled a dense array of times instead of the records.

var velocitySink [NumMetrics]Counts

type velocityBenchSize struct {
	name string
	keys uint64
}

// velocityBenchSizes are a table whose records stay in the CPU caches and one (11 MiB) whose records mostly do not,
// as in a busy service where most keys looked up are cache misses.
func velocityBenchSizes() []velocityBenchSize {
	return []velocityBenchSize{{"keys=1k", 1 << 10}, {"keys=64k", 1 << 16}}
}

func benchVelocity(keys uint64) *Velocity {
	v := NewVelocity(0)
	for i := range keys {
		v.Add(mix(i), Attempts, t0, 1)
	}
	return v
}

func BenchmarkVelocityAdd(b *testing.B) {
	for _, size := range velocityBenchSizes() {
		b.Run(size.name, func(b *testing.B) {
			v := benchVelocity(size.keys)
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				// One second per 64 events: the rings move as they would under live traffic.
				v.Add(mix(i%size.keys), Metric(i%uint64(NumMetrics)), t0+int64(i>>6), 1)
				i++
			}
		})
	}
}

func BenchmarkVelocityRead(b *testing.B) {
	for _, size := range velocityBenchSizes() {
		b.Run(size.name, func(b *testing.B) {
			v := benchVelocity(size.keys)
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				v.Read(mix(i%size.keys), t0+30, &velocitySink)
				i++
			}
		})
	}
}

func BenchmarkVelocityAddParallel(b *testing.B) {
	for _, size := range velocityBenchSizes() {
		b.Run(size.name, func(b *testing.B) {
			v := benchVelocity(size.keys)
			var seed atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				g := seed.Add(1) << 32 // each goroutine walks the keys from its own offset
				for i := uint64(0); pb.Next(); i++ {
					v.Add(mix((g+i)%size.keys), Attempts, t0+int64(i>>6), 1)
				}
			})
		})
	}
}

// BenchmarkVelocityAddNewKeys is a key spray into a full table: every Add inserts and evicts.
func BenchmarkVelocityAddNewKeys(b *testing.B) {
	v := NewVelocity(1 << 16)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		v.Add(mix(i), Attempts, t0+int64(i>>6), 1)
		i++
	}
}

// BenchmarkVelocityBytesPerKey reports the live heap per key of full tables, map and chunks included.
func BenchmarkVelocityBytesPerKey(b *testing.B) {
	for _, c := range []struct {
		name          string
		maxKeys, keys int
	}{
		{"1M-keys", 1 << 20, 1_000_000},
		{"full", 1 << 20, 4 << 20}, // a spray: every shard at its bound
	} {
		b.Run(c.name, func(b *testing.B) {
			var perKey float64
			for b.Loop() {
				perKey = velocityBytesPerKey(c.maxKeys, c.keys)
			}
			b.ReportMetric(perKey, "B/key")
		})
	}
}

// velocityBytesPerKey is the growth of the live heap per key held after adding keys keys to a Velocity of maxKeys.
func velocityBytesPerKey(maxKeys, keys int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := NewVelocity(maxKeys)
	for i := range uint64(keys) {
		v.Add(mix(i), Attempts, t0, 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(v.Len())
}
