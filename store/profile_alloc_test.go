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

// TestProfilesSprayFlat: once a bounded table is full, a spray of new users does not grow the heap (evicted
// entries are reused).
func TestProfilesSprayFlat(t *testing.T) {
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	const bound = 100_000
	ps := NewBoundedProfiles(bound)
	at := time.Now().Unix()
	for u := range uint64(bound) {
		ps.Apply(mix(u), ProfileOp{Kind: OpLogin, At: at, HasDevice: true, Device: u})
	}
	full := heap()
	for u := range uint64(10 * bound) {
		ps.Apply(mix(bound+u), ProfileOp{Kind: OpLogin, At: at, HasDevice: true, Device: u})
	}
	after := heap()
	runtime.KeepAlive(ps)
	if n := ps.Len(); n > bound {
		t.Fatalf("%d profiles held, bound %d", n, bound)
	}
	if after > full+full/10 {
		t.Fatalf("heap grew from %d to %d bytes over 10x the bound of new users", full, after)
	}
	t.Logf("heap %d bytes full (%d users), %d after %d more", full, bound, after, 10*bound)
}

// TestProfilesHitAllocs: with a data dir and profiles spilled to disk, a hit still allocates nothing.
func TestProfilesHitAllocs(t *testing.T) {
	e := openBounded(t, t.TempDir(), boundMax, time.Hour)
	defer e.Close()
	for u := range uint64(4 * boundMax) {
		learn(e, mix(u), 1, t0)
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	if !e.Profiles.Spilled() {
		t.Fatal("nothing spilled")
	}
	const user = 0x5eed
	learn(e, user, 1, t0)
	var p Profile
	op := ProfileOp{Kind: OpLogin, At: t0, HasDevice: true, Device: 1}
	if n := testing.AllocsPerRun(1000, func() {
		e.Profiles.Get(user, &p)
		e.Profiles.Apply(user, op)
	}); n != 0 {
		t.Fatalf("%v allocations per hit", n)
	}
}
