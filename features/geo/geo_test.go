package geo

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	geoip2 "github.com/oschwald/geoip2-golang/v2"

	"github.com/riskd/riskd/internal/testenv"
)

// testDataDir returns ../shared/geoip beside the repository (skipping, or failing under CI=true, without it).
func testDataDir(t testing.TB) string {
	t.Helper()
	return testenv.Shared(t, "geoip")
}

func testConfig(t testing.TB) Config {
	dir := testDataDir(t)
	return Config{
		CityPath:      filepath.Join(dir, "GeoIP2-City-Test.mmdb"),
		ASNPath:       filepath.Join(dir, "GeoLite2-ASN-Test.mmdb"),
		AnonymousPath: filepath.Join(dir, "GeoIP2-Anonymous-IP-Test.mmdb"),
	}
}

func openTestDB(t testing.TB) *DB {
	t.Helper()
	return openTestDBSlots(t, 0)
}

// openTestDBSlots opens the test databases with a cache of slots slots (the default when 0), closed when the
// test ends.
func openTestDBSlots(t testing.TB, slots int) *DB {
	t.Helper()
	cfg := testConfig(t)
	cfg.CacheSize = slots
	db, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// allFlags is the Anonymous-IP answer for 81.2.69.0/24 in the test database.
func allFlags(i Info) Info {
	i.Anonymous, i.VPN, i.Tor, i.Hosting, i.PublicProxy, i.ResidentialProxy = true, true, true, true, true, true
	return i
}

// The addresses documented in ../shared/README.md, with their full answers.
var knownAddresses = []struct {
	ip   string
	want Info
}{
	{"81.2.69.142", allFlags(Info{Country: "GB", Region: "ENG", City: "London", CityID: 2643743,
		Lat: 51.5142, Lon: -0.0931, RadiusKm: 10, HasLocation: true})},
	{"2.125.160.216", Info{Country: "GB", Region: "ENG", City: "Boxford", CityID: 2655045,
		Lat: 51.75, Lon: -1.25, RadiusKm: 100, HasLocation: true}},
	{"89.160.20.112", Info{Country: "SE", Region: "E", City: "Linköping", CityID: 2694762,
		Lat: 58.4167, Lon: 15.6167, RadiusKm: 76, HasLocation: true, ASN: 29518, ASOrg: "Bredband2 AB"}},
	{"216.160.83.56", Info{Country: "US", Region: "WA", City: "Milton", CityID: 5803556,
		Lat: 47.2513, Lon: -122.3149, RadiusKm: 22, HasLocation: true, ASN: 209}},
	{"175.16.199.1", Info{Country: "CN", Region: "22", City: "Changchun", CityID: 2038180,
		Lat: 43.88, Lon: 125.3228, RadiusKm: 100, HasLocation: true}},
	{"67.43.156.1", Info{Country: "BT", Lat: 27.5, Lon: 90.5, RadiusKm: 534, HasLocation: true, ASN: 35908}},
	{"1.0.0.1", Info{ASN: 15169, ASOrg: "Google Inc."}},
	{"1.128.0.1", Info{ASN: 1221, ASOrg: "Telstra Pty Ltd"}},
	{"12.81.92.1", Info{ASN: 7018, ASOrg: "AT&T Services"}},
	{"81.2.69.1", allFlags(Info{})},
	{"1.2.0.1", Info{Anonymous: true, VPN: true}},
	{"1.124.213.1", Info{Anonymous: true, VPN: true, Tor: true}},
	{"65.0.0.1", Info{Anonymous: true, Tor: true}},
	{"71.160.223.1", Info{Anonymous: true, Hosting: true}},
	{"186.30.236.1", Info{Anonymous: true, PublicProxy: true}},
	{"8.8.8.8", Info{}},
	{"2001:480:3a::1", Info{Anonymous: true, PublicProxy: true}},
	{"::ffff:89.160.20.112", Info{Country: "SE", Region: "E", City: "Linköping", CityID: 2694762,
		Lat: 58.4167, Lon: 15.6167, RadiusKm: 76, HasLocation: true, ASN: 29518, ASOrg: "Bredband2 AB"}},
}

func TestLookupKnownAddresses(t *testing.T) {
	db := openTestDB(t)
	for _, tc := range knownAddresses {
		t.Run(tc.ip, func(t *testing.T) {
			ip := netip.MustParseAddr(tc.ip)
			// Twice: the second answer comes from the cache (unless another
			// address took the slot meanwhile) and must be the same.
			for range 2 {
				if got := db.Lookup(ip); got != tc.want {
					t.Errorf("Lookup(%s)\n got %+v\nwant %+v", tc.ip, got, tc.want)
				}
			}
		})
	}
	if n := db.Errors(); n != 0 {
		t.Errorf("Errors() = %d, want 0", n)
	}
}

// TestLookupMatchesGeoIP2 checks the hand-written decoders against
// geoip2-golang's full decoders for every network in the test databases.
func TestLookupMatchesGeoIP2(t *testing.T) {
	cfg := testConfig(t)
	db := openTestDB(t)
	city, err := geoip2.Open(cfg.CityPath)
	if err != nil {
		t.Fatal(err)
	}
	defer city.Close()
	asn, err := geoip2.Open(cfg.ASNPath)
	if err != nil {
		t.Fatal(err)
	}
	defer asn.Close()
	anon, err := geoip2.Open(cfg.AnonymousPath)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()

	want := func(ip netip.Addr) Info {
		var w Info
		c, err := city.City(ip)
		if err != nil {
			t.Fatal(err)
		}
		w.Country = c.Country.ISOCode
		if len(c.Subdivisions) > 0 {
			w.Region = c.Subdivisions[0].ISOCode
		}
		w.City, w.CityID = c.City.Names.English, uint32(c.City.GeoNameID)
		if c.Location.HasCoordinates() {
			w.Lat, w.Lon, w.HasLocation = *c.Location.Latitude, *c.Location.Longitude, true
		}
		w.RadiusKm = c.Location.AccuracyRadius
		a, err := asn.ASN(ip)
		if err != nil {
			t.Fatal(err)
		}
		w.ASN, w.ASOrg = uint32(a.AutonomousSystemNumber), a.AutonomousSystemOrganization
		x, err := anon.AnonymousIP(ip)
		if err != nil {
			t.Fatal(err)
		}
		w.Anonymous, w.VPN, w.Tor = x.IsAnonymous, x.IsAnonymousVPN, x.IsTorExitNode
		w.Hosting, w.PublicProxy, w.ResidentialProxy = x.IsHostingProvider, x.IsPublicProxy, x.IsResidentialProxy
		return w
	}

	checked := 0
	for _, rd := range []reader{db.city, db.asn, db.anonymous} {
		for res := range rd.r.Networks() {
			p := res.Prefix()
			if !p.IsValid() {
				continue
			}
			ip := p.Addr()
			if got, w := db.Lookup(ip), want(ip.Unmap()); got != w {
				t.Errorf("Lookup(%s) from %s\n got %+v\nwant %+v", ip, rd.path, got, w)
			}
			checked++
		}
	}
	if checked < 100 {
		t.Fatalf("only %d networks checked", checked)
	}
}

func TestOpenErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.mmdb")
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a maxmind database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.mmdb")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"missing city":      {CityPath: missing},
		"garbage asn":       {ASNPath: garbage},
		"empty anonymous":   {AnonymousPath: empty},
		"second one broken": {CityPath: garbage, ASNPath: missing},
	} {
		t.Run(name, func(t *testing.T) {
			db, err := Open(cfg)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if db != nil {
				t.Error("Open returned a DB with its error")
			}
			path := cfg.CityPath + cfg.ASNPath + cfg.AnonymousPath
			if cfg.CityPath != "" {
				path = cfg.CityPath
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
		})
	}
	if _, err := Open(Config{CityPath: missing}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v does not wrap os.ErrNotExist", err)
	}
}

func TestOpenRefusesWrongKind(t *testing.T) {
	cfg := testConfig(t)
	_, err := Open(Config{CityPath: cfg.ASNPath})
	if !errors.Is(err, ErrWrongDatabase) || !strings.Contains(err.Error(), cfg.ASNPath) {
		t.Fatalf("ASN file as City database: got %v, want ErrWrongDatabase naming the file", err)
	}
	// GeoLite2-City has the same schema as GeoIP2-City.
	db, err := Open(Config{CityPath: filepath.Join(filepath.Dir(cfg.CityPath), "GeoLite2-City-Test.mmdb")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Lookup(netip.MustParseAddr("81.2.69.142")); got.City != "London" || got.Country != "GB" {
		t.Errorf("GeoLite2-City lookup = %+v", got)
	}
}

func TestNoDatabase(t *testing.T) {
	var nilDB *DB
	empty, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	for name, db := range map[string]*DB{"nil": nilDB, "none configured": empty} {
		for _, ip := range []netip.Addr{netip.MustParseAddr("81.2.69.142"), {}} {
			got := db.Lookup(ip)
			if got != (Info{}) {
				t.Errorf("%s: Lookup(%v) = %v, want empty Info", name, ip, got)
			}
		}
		if s := db.Status(); len(s) != 0 {
			t.Errorf("%s: Status() = %v, want none", name, s)
		}
		if err := db.Close(); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
	}
}

func TestStatus(t *testing.T) {
	cfg := testConfig(t)
	cfg.ASNPath = ""
	db, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := db.Status()
	if len(s) != 2 {
		t.Fatalf("Status() = %+v, want city and anonymous", s)
	}
	for i, want := range []Source{
		{Kind: KindCity, Path: cfg.CityPath, DatabaseType: "GeoIP2-City", Loaded: true},
		{Kind: KindAnonymous, Path: cfg.AnonymousPath, DatabaseType: "GeoIP2-Anonymous-IP", Loaded: true},
	} {
		got := s[i]
		if got.BuildTime.IsZero() || got.BuildTime.Year() < 2010 {
			t.Errorf("%s: BuildTime = %v", got.Kind, got.BuildTime)
		}
		got.BuildTime = want.BuildTime
		if got != want {
			t.Errorf("Status()[%d] = %+v, want %+v", i, got, want)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, src := range db.Status() {
		if src.Loaded {
			t.Errorf("%s still Loaded after Close", src.Kind)
		}
	}
}

// cached returns the cached answer for ip, false when its slot holds
// another address or nothing.
func cached(db *DB, ip netip.Addr) (Info, bool) {
	hi, lo := addrWords(ip)
	var info Info
	ok := db.slots[slotHash(hi, lo)&db.mask].load(hi, lo, db, &info)
	return info, ok
}

// plant caches info as the answer for key in the slot of at, as a lookup of
// key would if key's slot were at's. info's names must be views of db's
// files (answers of db's own lookups).
func plant(t testing.TB, db *DB, at, key netip.Addr, info Info) {
	t.Helper()
	hi, lo := addrWords(key)
	s := &db.slots[slotHash(addrWords(at))&db.mask]
	s.store(hi, lo, db, &info)
	var got Info
	if !s.load(hi, lo, db, &got) || got != info {
		t.Fatalf("could not plant %+v for %s", info, key)
	}
}

// warmCache looks ips up and returns those whose entries are all still
// cached at the end: in a direct-mapped cache a later address may have
// evicted an earlier one sharing its slot.
func warmCache(t testing.TB, db *DB, ips ...netip.Addr) []netip.Addr {
	t.Helper()
	for _, ip := range ips {
		db.Lookup(ip)
	}
	var kept []netip.Addr
	for _, ip := range ips {
		if _, ok := cached(db, ip); ok {
			kept = append(kept, ip)
		}
	}
	if len(kept) == 0 && len(ips) > 0 {
		t.Fatalf("none of %d addresses stayed cached", len(ips))
	}
	return kept
}

func TestCacheSizeRounding(t *testing.T) {
	for size, want := range map[int]int{
		math.MinInt: 131_072, -1: 131_072, 0: 131_072, DefaultCacheSize: 131_072,
		1: 1, 2: 2, 3: 4, 1000: 1024, 1024: 1024, 1025: 2048,
		maxCacheSlots - 1: maxCacheSlots, maxCacheSlots + 1: maxCacheSlots, math.MaxInt: maxCacheSlots,
	} {
		if got := cacheSlots(size); got != want {
			t.Errorf("cacheSlots(%d) = %d, want %d", size, got, want)
		}
	}
	db := openTestDBSlots(t, 1000)
	if len(db.slots) != 1024 || db.mask != 1023 {
		t.Errorf("CacheSize 1000: %d slots, mask %d; want 1024, 1023", len(db.slots), db.mask)
	}
}

// TestCacheHit checks a lookup caches its answer and a second one is served
// from the cache: an answer planted in the address's slot is what it gets.
func TestCacheHit(t *testing.T) {
	db := openTestDB(t)
	london := netip.MustParseAddr("81.2.69.142")
	londonInfo := db.Lookup(london)
	for _, tc := range knownAddresses {
		ip := netip.MustParseAddr(tc.ip)
		first := db.Lookup(ip)
		if got, ok := cached(db, ip); !ok || got != first {
			t.Fatalf("Lookup(%s) did not cache its answer: %v %+v", ip, ok, got)
		}
		plant(t, db, ip, ip, londonInfo)
		if again := db.Lookup(ip); again != londonInfo {
			t.Errorf("second Lookup(%s) = %+v, not the cached answer", ip, again)
		}
	}
	// ::ffff:89.160.20.112 and 89.160.20.112 share one slot.
	v4, mapped := netip.MustParseAddr("89.160.20.112"), netip.MustParseAddr("::ffff:89.160.20.112")
	plant(t, db, v4, v4, londonInfo)
	if got := db.Lookup(mapped); got != londonInfo {
		t.Errorf("Lookup(%s) = %+v, not the answer cached for %s", mapped, got, v4)
	}
}

// TestCacheCollision plants the answer for one address in the slot of
// another, as a collision of their slot indexes does, and checks it is not
// served: the lookup resolves its own address and takes the slot over.
func TestCacheCollision(t *testing.T) {
	db := openTestDB(t)
	london, boxford := netip.MustParseAddr("81.2.69.142"), netip.MustParseAddr("2.125.160.216")
	plant(t, db, boxford, london, db.Lookup(london))
	if got := db.Lookup(boxford); got.City != "Boxford" {
		t.Fatalf("Lookup(%s).City = %q, want Boxford", boxford, got.City)
	}
	if got, ok := cached(db, boxford); !ok || got.City != "Boxford" {
		t.Errorf("the slot does not hold Boxford's answer: %v %+v", ok, got)
	}
}

// TestCacheReplacement runs every lookup through a one-slot cache, so each
// address evicts the previous one: every answer must still be right, each
// lookup takes the slot over, and answers handed out earlier stay untouched.
func TestCacheReplacement(t *testing.T) {
	db := openTestDBSlots(t, 1)
	if len(db.slots) != 1 {
		t.Fatalf("%d slots, want 1", len(db.slots))
	}
	first := make(map[string]*Info)
	for round := range 3 {
		for _, tc := range knownAddresses {
			ip := netip.MustParseAddr(tc.ip)
			var got Info
			db.LookupInto(ip, &got)
			if got != tc.want {
				t.Errorf("round %d: Lookup(%s)\n got %+v\nwant %+v", round, tc.ip, got, tc.want)
			}
			if c, ok := cached(db, ip); !ok || c != got {
				t.Errorf("round %d: Lookup(%s) did not take the slot", round, tc.ip)
			}
			if _, ok := first[tc.ip]; !ok {
				first[tc.ip] = &got
			}
		}
	}
	for _, tc := range knownAddresses {
		if got := first[tc.ip]; *got != tc.want {
			t.Errorf("evicted Info of %s changed to %+v", tc.ip, *got)
		}
	}
}

// TestConcurrentCollisions has goroutines fight over a few slots, so misses
// race each other's Stores; run with -race.
func TestConcurrentCollisions(t *testing.T) {
	db := openTestDBSlots(t, 4)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				tc := knownAddresses[(g*7+i)%len(knownAddresses)]
				if got := db.Lookup(netip.MustParseAddr(tc.ip)); got != tc.want {
					t.Errorf("Lookup(%s) = %+v", tc.ip, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

var sinkInfo Info

func TestConcurrentLookups(t *testing.T) {
	db := openTestDB(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				tc := knownAddresses[(g+i)%len(knownAddresses)]
				if got := db.Lookup(netip.MustParseAddr(tc.ip)); got != tc.want {
					t.Errorf("Lookup(%s) = %+v", tc.ip, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestDamagedDatabase flips bytes in copies of the test databases: Open
// without Verify accepts most of them, and then lookups must degrade (count
// errors, return partial answers), never panic; Verify refuses them.
func TestDamagedDatabase(t *testing.T) {
	cfg := testConfig(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	var refused, opened int
	for i := range 40 {
		orig, err := os.ReadFile(cfg.CityPath)
		if err != nil {
			t.Fatal(err)
		}
		// Damage the tree and data sections, not the metadata at the end,
		// so the file still opens.
		for range 20 {
			orig[rng.IntN(len(orig)*3/4)] = byte(rng.IntN(256))
		}
		path := filepath.Join(dir, fmt.Sprintf("damaged-%d.mmdb", i))
		if err := os.WriteFile(path, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		if db, err := Open(Config{CityPath: path, Verify: true}); err == nil {
			db.Close() // the flips may have hit bytes no check can tell from data
		} else {
			if !strings.Contains(err.Error(), path) {
				t.Errorf("Verify error %q does not name %s", err, path)
			}
			refused++
		}
		db, err := Open(Config{CityPath: path})
		if err != nil {
			continue
		}
		opened++
		for _, tc := range knownAddresses {
			db.Lookup(netip.MustParseAddr(tc.ip))
		}
		for res := range db.city.r.Networks() {
			if p := res.Prefix(); p.IsValid() {
				db.Lookup(p.Addr())
			}
		}
		db.Close()
	}
	t.Logf("Verify refused %d of 40, Open accepted %d", refused, opened)
	if refused == 0 || opened == 0 {
		t.Errorf("Verify refused %d of 40 damaged files, Open accepted %d: the test damages too little or too much", refused, opened)
	}
}

// TestCloseWhileLookingUp closes a DB under running lookups, as a reload
// does right after swapping in the new one: no panic, no wrong answer.
func TestCloseWhileLookingUp(t *testing.T) {
	db := openTestDB(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tc := knownAddresses[i%len(knownAddresses)]
				if got := db.Lookup(netip.MustParseAddr(tc.ip)); got != tc.want {
					t.Errorf("Lookup(%s) = %+v", tc.ip, got)
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	for _, s := range db.Status() {
		if s.Loaded {
			t.Errorf("%s still Loaded after Close", s.Kind)
		}
	}
	// A closed DB keeps answering, from the cache and from the readers.
	for _, tc := range knownAddresses {
		if got := db.Lookup(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Lookup(%s) after Close = %+v", tc.ip, got)
		}
	}
	london := netip.MustParseAddr("81.2.69.142")
	db.slots[slotHash(addrWords(london))&db.mask] = slot{} // forget its answer (nothing else runs now)
	if _, ok := cached(db, london); ok {
		t.Fatalf("%s still cached", london)
	}
	if got := db.Lookup(london); got.City != "London" {
		t.Errorf("uncached Lookup(%s) after Close: City = %q, want London", london, got.City)
	}
}
