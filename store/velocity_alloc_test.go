//go:build !race

package store

import (
	"runtime"
	"testing"
)

func TestVelocityAllocs(t *testing.T) {
	v := NewVelocity(0)
	const k = 77
	v.Add(k, Attempts, t0, 1)
	var out [NumMetrics]Counts
	at := int64(t0)
	allocs := testing.AllocsPerRun(1000, func() {
		at += 7 // moves the rings too
		v.Add(k, Attempts, at, 1)
		v.Add(k, Failures, at-100, 1)
		v.Read(k, at, &out)
	})
	if allocs != 0 {
		t.Errorf("Add+Read on an existing key: %v allocs/op, want 0", allocs)
	}
}

// TestVelocityBytesPerKey guards the memory budget of DESIGN.md: at most 256 bytes per key, map included.
func TestVelocityBytesPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a million keys")
	}
	const keys = 1_000_000
	if b := velocityBytesPerKey(1<<20, keys); b > 256 {
		t.Errorf("%.1f bytes per key over %d keys, want <= 256", b, keys)
	} else {
		t.Logf("%.1f bytes per key over %d keys", b, keys)
	}
}

// TestVelocitySprayFlat checks that a spray of new keys into a full table, where every Add evicts, does not grow
// the heap: the map's deleted slots are reused, not piled up.
func TestVelocitySprayFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("sprays millions of keys")
	}
	const maxKeys = 1 << 14
	v := NewVelocity(maxKeys)
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var first uint64
	for round := range uint64(4) {
		for i := range uint64(32 * maxKeys) {
			v.Add(mix(round<<40|i), Attempts, t0+int64(i>>8), 1)
		}
		h := heap()
		if round == 0 {
			first = h
		} else if h > first+first/8 {
			t.Fatalf("heap grew from %d to %d bytes after %d rounds of key spray", first, h, round)
		}
		if n := v.Len(); n != maxKeys {
			t.Fatalf("Len() = %d, want %d", n, maxKeys)
		}
	}
}
