//go:build !race

package store

import (
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
