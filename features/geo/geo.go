package geo

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/oschwald/maxminddb-golang/v2"
)

// Info is what riskd knows about an IP address. Immutable once returned.
type Info struct {
	Country     string // ISO 3166-1 alpha-2, "" when unknown
	Region      string // first subdivision ISO code, "" when unknown
	City        string // English city name, "" when unknown
	CityID      uint32 // GeoNames id of the city, 0 when unknown
	Lat, Lon    float64
	RadiusKm    uint16 // accuracy radius in km
	HasLocation bool   // Lat/Lon are set
	ASN         uint32
	ASOrg       string

	Anonymous, VPN, Tor, Hosting, PublicProxy, ResidentialProxy bool
}

// Config names the databases to open. Each path is optional.
type Config struct {
	CityPath, ASNPath, AnonymousPath string // empty = not configured
	// CacheSize is the number of addresses whose Info is cached; <= 0 means
	// DefaultCacheSize.
	CacheSize int
	// Verify runs maxminddb's full structural check of each file in Open
	// (about 1 s per million networks). Lookups on a damaged file never
	// panic, they count Errors and return what they could decode; Verify
	// refuses such a file up front instead, which suits files from sources
	// riskd does not control.
	Verify bool
}

// DefaultCacheSize covers the distinct addresses of a busy hour of logins
// (~25 MB at ~250 B per entry including ristretto's bookkeeping).
const DefaultCacheSize = 100_000

// Database kinds, as reported in Source.Kind.
const (
	KindCity      = "city"
	KindASN       = "asn"
	KindAnonymous = "anonymous"
)

// ErrWrongDatabase is returned (wrapped) by Open when a file is a valid mmdb
// of another kind than its configured role, e.g. an ASN file given as the City
// database: every lookup would silently come back empty otherwise.
var ErrWrongDatabase = errors.New("wrong database type")

// Source describes one configured database.
type Source struct {
	Kind         string // KindCity, KindASN or KindAnonymous
	Path         string
	DatabaseType string // from the file's metadata, e.g. "GeoIP2-City"
	BuildTime    time.Time
	Loaded       bool // open and serving lookups (false once the DB is closed)
}

// DB is an immutable set of open readers plus a lookup cache. Lookup is safe
// for concurrent use, also with Close.
//
// The files are read into memory rather than memory-mapped: an operator who
// copies a new database over the old one in place (cp, not mv) would
// otherwise make a mapped reader fault (SIGBUS) in the middle of a lookup,
// and a reload could not close the old DB while requests still use it.
type DB struct {
	city, asn, anonymous reader
	sources              []Source
	cache                *ristretto.Cache[uint64, *entry] // nil when no database is configured
	closed               atomic.Bool
	closeGrace           time.Duration // cacheCloseGrace; tests lengthen it
	decodeErrors         atomic.Uint64
}

// reader is one open database; r is nil when the kind is not configured.
type reader struct {
	r    *maxminddb.Reader
	path string
	// v4Only databases answer an IPv6 lookup with an error, not a miss.
	v4Only bool
}

// entry is the cached value. Keys are 64-bit hashes, so two addresses can
// share one; addr tells them apart.
type entry struct {
	addr netip.Addr
	info Info
}

// emptyInfo is returned for every address nothing is known about. It is never
// written: Lookup's callers treat every *Info as read-only.
var emptyInfo Info

// Open opens the configured databases. Errors name the file that failed and
// wrap the underlying cause; on error nothing stays open.
func Open(cfg Config) (*DB, error) {
	db := &DB{closeGrace: cacheCloseGrace}
	specs := []struct {
		kind, path string
		dst        *reader
		accepts    []string // substrings of metadata database_type
	}{
		// GeoIP2-Enterprise and DB-IP city files share the City schema, and
		// a Country file is its country-only subset; GeoIP2-ISP and the
		// Anonymous-Plus file are supersets of ASN and Anonymous-IP.
		{KindCity, cfg.CityPath, &db.city, []string{"City", "Enterprise", "Country"}},
		{KindASN, cfg.ASNPath, &db.asn, []string{"ASN", "ISP"}},
		{KindAnonymous, cfg.AnonymousPath, &db.anonymous, []string{"Anonymous"}},
	}
	for _, s := range specs {
		if s.path == "" {
			continue
		}
		r, err := openReader(s.kind, s.path, s.accepts, cfg.Verify)
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		*s.dst = reader{r: r, path: s.path, v4Only: r.Metadata.IPVersion == 4}
		db.sources = append(db.sources, Source{
			Kind:         s.kind,
			Path:         s.path,
			DatabaseType: r.Metadata.DatabaseType,
			BuildTime:    r.Metadata.BuildTime().UTC(),
			Loaded:       true,
		})
	}
	if len(db.sources) == 0 {
		return db, nil
	}

	size := cfg.CacheSize
	if size <= 0 {
		size = DefaultCacheSize
	}
	cache, err := ristretto.NewCache(&ristretto.Config[uint64, *entry]{
		NumCounters:        10 * int64(size), // ristretto's advice: 10x the entries
		MaxCost:            int64(size),      // every entry costs 1
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("geo: lookup cache: %w", err)
	}
	db.cache = cache
	return db, nil
}

func openReader(kind, path string, accepts []string, verify bool) (*maxminddb.Reader, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("geo: %s database %s: %w", kind, path, err)
	}
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("geo: %s database %s: %w", kind, path, err)
	}
	if !slices.ContainsFunc(accepts, func(a string) bool { return strings.Contains(r.Metadata.DatabaseType, a) }) {
		return nil, fmt.Errorf("geo: %s database %s: %w: %q", kind, path, ErrWrongDatabase, r.Metadata.DatabaseType)
	}
	if verify {
		if err := r.Verify(); err != nil {
			return nil, fmt.Errorf("geo: %s database %s: %w", kind, path, err)
		}
	}
	return r, nil
}

// Lookup returns what the databases know about ip: never nil, and shared, so
// the caller must not modify it. Unknown addresses, invalid ones, a DB with
// no database configured and a nil *DB all give an empty Info.
//
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is looked up, and cached, as
// the IPv4 address it carries.
func (db *DB) Lookup(ip netip.Addr) *Info {
	if db == nil || db.cache == nil || !ip.IsValid() {
		return &emptyInfo
	}
	ip = ip.Unmap().WithZone("")
	// After Close the cache is on its way out (ristretto must not be used
	// once closed); lookups still answer, from the readers alone.
	cached := !db.closed.Load()
	key := hashAddr(ip)
	if cached {
		if e, ok := db.cache.Get(key); ok && e.addr == ip {
			return &e.info
		}
	}
	e := &entry{addr: ip}
	db.resolve(ip, &e.info)
	if cached {
		// A dropped Set only costs the next lookup of ip a recomputation.
		db.cache.Set(key, e, 1)
	}
	return &e.info
}

func hashAddr(ip netip.Addr) uint64 {
	b := ip.As16()
	return xxhash.Sum64(b[:])
}

// resolve fills info from every configured database. A damaged record leaves
// the fields it did not reach empty and counts an error: one bad record is no
// reason to fail a login decision.
func (db *DB) resolve(ip netip.Addr, info *Info) {
	db.decode(db.city, ip, (*cityRecord)(info))
	db.decode(db.asn, ip, (*asnRecord)(info))
	db.decode(db.anonymous, ip, (*anonymousRecord)(info))
}

func (db *DB) decode(rd reader, ip netip.Addr, dst any) {
	if rd.r == nil || (rd.v4Only && ip.Is6()) {
		return
	}
	if err := rd.r.Lookup(ip).Decode(dst); err != nil {
		db.decodeErrors.Add(1)
	}
}

// Errors returns how many record decodes failed since Open (damaged
// database records); export it as a counter.
func (db *DB) Errors() uint64 {
	if db == nil {
		return 0
	}
	return db.decodeErrors.Load()
}

// Status returns one entry per configured database, in the order city, asn,
// anonymous. The slice is the caller's.
func (db *DB) Status() []Source {
	if db == nil {
		return nil
	}
	out := make([]Source, len(db.sources))
	copy(out, db.sources)
	if db.closed.Load() {
		for i := range out {
			out[i].Loaded = false
		}
	}
	return out
}

// cacheCloseGrace is how long Close leaves the cache running for lookups
// that began before it; they finish within microseconds, but ristretto
// panics on a Set racing its Close.
const cacheCloseGrace = 10 * time.Second

// Close retires db. It is safe to call while lookups are running, e.g. right
// after swapping a new DB in: later lookups bypass the cache and still
// answer from the in-memory databases, the cache's goroutines stop after a
// grace period, and the memory goes with the last reference. Closing twice
// is harmless.
func (db *DB) Close() error {
	if db == nil || db.closed.Swap(true) {
		return nil
	}
	if db.cache != nil {
		time.AfterFunc(db.closeGrace, db.cache.Close)
	}
	return nil
}
