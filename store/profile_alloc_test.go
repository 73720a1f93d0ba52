//go:build !race

package store

import (
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// TestProfileBytesPerUser guards DESIGN.md's memory budget for profiles, table included: at most 1 KiB a user.
func TestProfileBytesPerUser(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a million profiles")
	}
	const n = 1_000_000
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	ps := NewProfiles()
	at := time.Now().Unix()
	for u := range uint64(n) {
		for _, op := range typicalOps(u, at) {
			ps.Apply(mix(u), op)
		}
	}
	per := float64(heap()-before) / n
	runtime.KeepAlive(ps)
	if per > 1024 {
		t.Fatalf("%.0f bytes per profile over %d users, want <= 1024", per, n)
	}
	t.Logf("%.0f bytes per profile over %d users (the value is %d bytes)", per, n, unsafe.Sizeof(Profile{}))
}
