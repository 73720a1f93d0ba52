package geo

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	geoip2 "github.com/oschwald/geoip2-golang/v2"
)

// Benchmarks run against MaxMind's test databases (a few hundred networks)
// unless RISKD_BENCH_GEOIP names a directory of databases written by
// bench/geogen, whose production-sized trees give the realistic figures:
//
//	go run ./bench/geogen -out /tmp/geo1m -networks 1000000
//	RISKD_BENCH_GEOIP=/tmp/geo1m go test -run '^$' -bench . -benchmem ./features/geo/
//
// Figures on the 2-core dev machine (AMD EPYC, go1.26, other jobs running),
// ns/op and allocs/op; 200k random addresses inside the City networks. The
// times are from a quiet hour with a cache of one entry per slot; the
// allocations are today's (the comparison below: inline answers cost the
// same within the noise, and a miss allocates nothing):
//
//	                         geogen 1M networks    MaxMind test DBs
//	LookupCached              29-32 ns   0          29-32 ns  0
//	LookupCachedParallel      15 ns      0          15 ns     0
//	LookupUncached            3.7-4.3 µs 0          800 ns    0
//	Resolve (no cache)        3.1-4.1 µs 0          630 ns    0
//	DecodeCity/cursor         1.6 µs     0          400 ns    0   <- what Lookup uses
//	DecodeCity/reflection     2.0 µs     3          620 ns    2   small tagged structs, reflection decoder
//	DecodeCity/geoip2         3.1 µs     3          1.5 µs    3   geoip2-golang v2.5.0 City(), 1.2 KB/op
//
// A miss on the big set is dominated by memory latency: three trees of
// 36+32+3 MB walked at random addresses. Before the direct-mapped cache,
// with Ristretto: LookupCached 50-60 ns and 2-4 B/op (its Get buffers),
// Parallel 35 ns, Uncached 5.6 µs / 1.2 µs with 7 allocs and 306 B/op.
//
// Answers inline under a seqlock, names as views (DB's comment), against a
// new 128-byte entry per miss before; best of -count 5 each, load average
// 5-7 (the machine shared), 2026-12-05:
//
//	                      geogen 1M networks              MaxMind test DBs
//	                      entry          inline           entry           inline
//	LookupCached          36 ns          34 ns            81 ns (*)       33 ns
//	LookupCachedParallel  39 ns          32 ns            45 ns           33 ns
//	LookupUncached        5.7 µs 129 B 1  5.4 µs 0 B 0     924 ns 126 B 0  787 ns 0 B 0
//	Resolve               4.9 µs 1-2 B   5.4 µs 0 B       657 ns          867 ns (*)
//
// (*) within the noise of that load: CPU time per lookup by perf stat
// (task-clock of 12M minus 2M iterations), best of 4-5 alternated runs,
// gave LookupCached 28.5 entry / 28.2 inline, Resolve 581 / 670 ns. The
// entry's 126-129 B/op is the entry (printed "0 allocs" on the test DBs,
// where 2% of lookups hit and -benchmem truncates 0.98 to 0); Resolve's
// 1-2 B/op there were names missing maxminddb's string cache. An inline hit
// copies 120 bytes out of the slot where the entry's handed out a pointer,
// and reads one place in memory where the entry's read two.

func benchConfig(b *testing.B) Config {
	if dir := os.Getenv("RISKD_BENCH_GEOIP"); dir != "" {
		return Config{
			CityPath:      filepath.Join(dir, "city.mmdb"),
			ASNPath:       filepath.Join(dir, "asn.mmdb"),
			AnonymousPath: filepath.Join(dir, "anonymous.mmdb"),
		}
	}
	return testConfig(b)
}

func openBenchDB(b *testing.B, cacheSize int) *DB {
	b.Helper()
	cfg := benchConfig(b)
	cfg.CacheSize = cacheSize
	db, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

// benchAddrs returns n addresses inside networks of the City database, in
// random order and mostly distinct (random host bits), so lookups walk the
// tree to a record as real client addresses do.
func benchAddrs(b testing.TB, db *DB, n int) []netip.Addr {
	b.Helper()
	var nets []netip.Prefix
	for res := range db.city.r.Networks() {
		if p := res.Prefix(); p.IsValid() {
			nets = append(nets, p)
		}
	}
	if len(nets) == 0 {
		b.Fatal("no networks in the City database")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	addrs := make([]netip.Addr, n)
	for i := range addrs {
		p := nets[rng.IntN(len(nets))]
		a := p.Addr().As16()
		hostBits := p.Addr().BitLen() - p.Bits()
		for bit := range min(hostBits, 32) {
			if rng.IntN(2) == 1 {
				a[15-bit/8] |= 1 << (bit % 8)
			}
		}
		addrs[i] = netip.AddrFrom16(a)
		if p.Addr().Is4() {
			addrs[i] = addrs[i].Unmap()
		}
	}
	return addrs
}

var sinkOK bool

func BenchmarkLookupCached(b *testing.B) {
	db := openBenchDB(b, 0)
	addrs := warmCache(b, db, benchAddrs(b, db, 1024)...) // drops the few that share a slot
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		db.LookupInto(addrs[i%len(addrs)], &sinkInfo)
		i++
	}
}

func BenchmarkLookupCachedParallel(b *testing.B) {
	db := openBenchDB(b, 0)
	addrs := warmCache(b, db, benchAddrs(b, db, 1024)...) // drops the few that share a slot
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(addrs))
		var ok bool
		var info Info
		for pb.Next() {
			db.LookupInto(addrs[i%len(addrs)], &info)
			ok = info.HasLocation != ok
			i++
		}
		sinkOK = ok
	})
}

// BenchmarkLookupUncached cycles through more addresses than the cache holds,
// so nearly every lookup is a miss: tree walks, decoding and a new entry.
func BenchmarkLookupUncached(b *testing.B) {
	db := openBenchDB(b, 1000)
	addrs := benchAddrs(b, db, 200_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		db.LookupInto(addrs[i%len(addrs)], &sinkInfo)
		i++
	}
}

// BenchmarkResolve is a miss without the cache: the three tree walks and
// decodes alone.
func BenchmarkResolve(b *testing.B) {
	db := openBenchDB(b, 0)
	addrs := benchAddrs(b, db, 200_000)
	b.ReportAllocs()
	var info Info
	i := 0
	for b.Loop() {
		info = Info{}
		db.resolve(addrs[i%len(addrs)], &info)
		i++
	}
	sinkOK = info.HasLocation
}

// reflectionCity is the alternative to the hand-written cursor decoder that
// was measured against it: the same fields as small tagged structs, decoded
// by maxminddb's reflection decoder.
type reflectionCity struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"subdivisions"`
	City struct {
		GeoNameID uint32 `maxminddb:"geoname_id"`
		Names     struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude       *float64 `maxminddb:"latitude"`
		Longitude      *float64 `maxminddb:"longitude"`
		AccuracyRadius uint16   `maxminddb:"accuracy_radius"`
	} `maxminddb:"location"`
}

// BenchmarkDecodeCity compares ways of getting the City fields riskd needs
// for one address (tree walk included).
func BenchmarkDecodeCity(b *testing.B) {
	db := openBenchDB(b, 0)
	addrs := benchAddrs(b, db, 200_000)
	city := db.city.r

	b.Run("cursor", func(b *testing.B) {
		b.ReportAllocs()
		info := new(Info)
		i := 0
		for b.Loop() {
			*info = Info{}
			c, ok := db.record(&db.city, addrs[i%len(addrs)])
			if !ok {
				b.Fatal("no record")
			}
			if err := decodeCity(c, db.city.data, info); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("reflection", func(b *testing.B) {
		b.ReportAllocs()
		rec := new(reflectionCity)
		i := 0
		for b.Loop() {
			*rec = reflectionCity{}
			if err := city.Lookup(addrs[i%len(addrs)]).Decode(rec); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("geoip2", func(b *testing.B) {
		r, err := geoip2.Open(benchConfig(b).CityPath)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c, err := r.City(addrs[i%len(addrs)])
			if err != nil {
				b.Fatal(err)
			}
			sinkOK = c.Location.HasCoordinates()
			i++
		}
	})
}
