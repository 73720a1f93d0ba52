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
		if _, ok := cached(db, ip); !ok {
			t.Fatalf("Lookup(%s) left no cache entry", ip)
		}
		if n := testing.AllocsPerRun(1000, func() { db.LookupInto(ip, &sinkInfo) }); n != 0 {
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
		db.LookupInto(ips[i%len(ips)], &sinkInfo)
		i++
	}); n != 0 {
		t.Errorf("cached Lookups of %d addresses: %v allocs/op, want 0", len(ips), n)
	}
}

// TestLookupEvictionAllocatesNothing: two addresses through a one-slot cache
// evict each other on every lookup, and each miss resolves its address
// without allocating: not the answer, not its names.
func TestLookupEvictionAllocatesNothing(t *testing.T) {
	db := openTestDBSlots(t, 1)
	ips := []netip.Addr{netip.MustParseAddr("89.160.20.112"), netip.MustParseAddr("81.2.69.142")}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		db.LookupInto(ips[i%2], &sinkInfo)
		i++
	}); n != 0 {
		t.Errorf("uncached Lookup: %v allocs/op, want 0", n)
	}
	if sinkInfo.City != "Linköping" || sinkInfo.ASOrg != "Bredband2 AB" { // 1001 runs, warm-up included
		t.Errorf("last answer %+v, want Linköping's", sinkInfo)
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
		if n := testing.AllocsPerRun(1000, func() { db.LookupInto(ip, &sinkInfo) }); n != 0 {
			t.Errorf("%s: Lookup: %v allocs/op, want 0", name, n)
		}
	}
}

// TestDecodeAllocatesNothing guards the decoders themselves: names are views
// of the database, never copies.
func TestDecodeAllocatesNothing(t *testing.T) {
	db := openTestDB(t)
	for _, tc := range knownAddresses {
		ip := netip.MustParseAddr(tc.ip).Unmap()
		var info Info
		if n := testing.AllocsPerRun(1000, func() {
			info = Info{}
			db.resolve(ip, &info)
		}); n != 0 {
			t.Errorf("resolve(%s): %v allocs/op, want 0", ip, n)
		}
	}
}

// TestLookupMissAllocatesNothing guards the request path when addresses
// outnumber the cache slots, as they do at a million users: nearly every
// lookup is a miss that resolves the address and takes its slot over, and
// that must not allocate either. The addresses lie inside the City networks,
// so misses decode names (city, region, country) as real ones do.
func TestLookupMissAllocatesNothing(t *testing.T) {
	db := openTestDBSlots(t, 1024)
	addrs := benchAddrs(t, db, 64*1024)
	for _, ip := range addrs { // steady state: whatever warms up has warmed up
		db.LookupInto(ip, &sinkInfo)
	}
	// Each run looks up the next address that is not cached, so every run
	// is a miss: testing.AllocsPerRun truncates its average to an integer,
	// and a mix of hits and allocating misses would read as 0.
	i := 0
	n := testing.AllocsPerRun(20_000, func() {
		for _, hit := cached(db, addrs[i%len(addrs)]); hit; _, hit = cached(db, addrs[i%len(addrs)]) {
			i++
		}
		db.LookupInto(addrs[i%len(addrs)], &sinkInfo)
		i++
	})
	if n != 0 {
		t.Errorf("Lookup missing the cache: %v allocs/op, want 0", n)
	}
}
