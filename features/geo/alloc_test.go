//go:build !race

// The race detector allocates on its own, so allocation counts are only
// meaningful without it.

package geo

import (
	"net/netip"
	"testing"
)

func TestLookupCacheHitAllocatesNothing(t *testing.T) {
	db := openTestDB(t)
	for _, tc := range knownAddresses {
		ip := netip.MustParseAddr(tc.ip)
		warmCache(t, db, ip)
		if n := testing.AllocsPerRun(1000, func() { sinkInfo = db.Lookup(ip) }); n != 0 {
			t.Errorf("cached Lookup(%s): %v allocs/op, want 0", ip, n)
		}
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
// reader's string cache holds the names, a miss costs only the cache entry
// and ristretto's bookkeeping, never decoding garbage.
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
