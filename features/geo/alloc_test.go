//go:build !race

// The race detector allocates on its own, so allocation counts are only
// meaningful without it.

package geo

import (
	"net/netip"
	"testing"
)

// TestLookupCacheHitAllocatesNothing guards the request path: a cache hit
// must not allocate. testing.AllocsPerRun counts mallocs process-wide, which
// the cache can afford since it runs no goroutines of its own.
func TestLookupCacheHitAllocatesNothing(t *testing.T) {
	db := openTestDB(t)
	for _, tc := range knownAddresses {
		ip := netip.MustParseAddr(tc.ip)
		db.Lookup(ip)
		if cachedEntry(db, ip) == nil {
			t.Fatalf("Lookup(%s) left no cache entry", ip)
		}
		if n := testing.AllocsPerRun(1000, func() { sinkInfo = db.Lookup(ip) }); n != 0 {
			t.Errorf("cached Lookup(%s): %v allocs/op, want 0", ip, n)
		}
	}
	// Many addresses at once, as the request path sees them: those that
	// share a slot are left out, they would miss by design.
	var ips []netip.Addr
	for _, tc := range knownAddresses {
		ips = append(ips, netip.MustParseAddr(tc.ip))
	}
	ips = warmCache(t, db, ips...)
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		sinkInfo = db.Lookup(ips[i%len(ips)])
		i++
	}); n != 0 {
		t.Errorf("cached Lookups of %d addresses: %v allocs/op, want 0", len(ips), n)
	}
}

// TestLookupMissAllocatesOneEntry: a miss costs exactly the new cache entry.
// Two addresses through a one-slot cache evict each other on every lookup.
func TestLookupMissAllocatesOneEntry(t *testing.T) {
	cfg := testConfig(t)
	cfg.CacheSize = 1
	db, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ips := []netip.Addr{netip.MustParseAddr("89.160.20.112"), netip.MustParseAddr("81.2.69.142")}
	for _, ip := range ips {
		db.Lookup(ip) // fill the readers' string caches
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		sinkInfo = db.Lookup(ips[i%2])
		i++
	}); n != 1 {
		t.Errorf("uncached Lookup: %v allocs/op, want 1 (the cache entry)", n)
	}
}

func TestLookupWithoutDatabaseAllocatesNothing(t *testing.T) {
	empty, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var nilDB *DB
	ip := netip.MustParseAddr("81.2.69.142")
	for name, db := range map[string]*DB{"nil": nilDB, "none configured": empty} {
		if n := testing.AllocsPerRun(1000, func() { sinkInfo = db.Lookup(ip) }); n != 0 {
			t.Errorf("%s: Lookup: %v allocs/op, want 0", name, n)
		}
	}
}

// TestDecodeAllocatesNothing guards the decoders themselves: once the
// reader's string cache holds the names, a miss costs only the cache entry,
// never decoding garbage.
func TestDecodeAllocatesNothing(t *testing.T) {
	db := openTestDB(t)
	for _, tc := range knownAddresses {
		ip := netip.MustParseAddr(tc.ip).Unmap()
		var info Info
		db.resolve(ip, &info) // fill the string cache
		if n := testing.AllocsPerRun(1000, func() {
			info = Info{}
			db.resolve(ip, &info)
		}); n != 0 {
			t.Errorf("resolve(%s): %v allocs/op, want 0", ip, n)
		}
	}
}
