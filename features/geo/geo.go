package geo

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
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
	// CacheSize is the number of cache slots, rounded up to a power of two
	// (at most maxCacheSlots); <= 0 means DefaultCacheSize. The cache is
	// direct-mapped, so colliding addresses evict each other: with as many
	// distinct busy addresses as slots about 63% of them are resident at a
	// time, with a quarter as many about 89%.
	CacheSize int
	// Verify runs maxminddb's full structural check of each file in Open
	// (about 1 s per million networks). Lookups on a damaged file never
	// panic, they count Errors and return what they could decode; Verify
	// refuses such a file up front instead, which suits files from sources
	// riskd does not control.
	Verify bool
}

// DefaultCacheSize covers the distinct addresses of a busy hour of logins.
// It rounds up to 131,072 slots. Memory: 8 B per slot up front (1 MB), plus
// ~150-200 B per occupied slot (a 128-byte entry, and its city and AS names
// when maxminddb's string cache did not already hold them), so ~20-27 MB
// once every slot is occupied.
const DefaultCacheSize = 100_000

// maxCacheSlots bounds CacheSize (8 GB of slot pointers), so that a huge
// value cannot overflow the rounding.
const maxCacheSlots = 1 << 30

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
//
// The cache is direct-mapped and lock-free: slot hashAddr(ip)&mask holds at
// most one immutable *entry. A hit is one atomic load and an address
// compare; a miss resolves the address into a new entry and stores it over
// whatever the slot held. There are no locks, no background goroutines and
// no eviction bookkeeping. It replaced Ristretto, whose Get records every
// key in admission buffers that allocate (a new 64-slot ring stripe each
// time one fills: ~1 allocation per 64 requests) and whose policy runs in
// goroutines of its own, while riskd's request path must not allocate in
// steady state. The cached data is derived, so losing an entry costs only a
// recomputation: a hot address evicted by a colliding one is simply
// resolved again on its next lookup, and the slot count, not an admission
// policy, keeps the hit rate up.
type DB struct {
	city, asn, anonymous reader
	sources              []Source
	slots                []atomic.Pointer[entry] // nil when no database is configured
	mask                 uint64                  // len(slots) - 1
	closed               atomic.Bool
	decodeErrors         atomic.Uint64
	// fixed answers these addresses whatever the databases say (WithFixed); nil in a server's DB.
	fixed map[netip.Addr]*Info
}

// reader is one open database; r is nil when the kind is not configured.
type reader struct {
	r    *maxminddb.Reader
	path string
	// v4Only databases answer an IPv6 lookup with an error, not a miss.
	v4Only bool
}

// entry is the cached value, immutable once stored in a slot. Many
// addresses map to one slot; addr tells them apart.
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
	db := &DB{}
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

	n := cacheSlots(cfg.CacheSize)
	db.slots = make([]atomic.Pointer[entry], n)
	db.mask = uint64(n - 1)
	return db, nil
}

// cacheSlots returns the slot count for Config.CacheSize: the next power of
// two >= size, DefaultCacheSize's for size <= 0, at most maxCacheSlots.
func cacheSlots(size int) int {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return 1 << bits.Len(uint(min(size, maxCacheSlots)-1))
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
	if db == nil || !ip.IsValid() {
		return &emptyInfo
	}
	ip = ip.Unmap().WithZone("")
	if db.fixed != nil {
		if info, ok := db.fixed[ip]; ok {
			return info
		}
	}
	if db.slots == nil {
		return &emptyInfo
	}
	slot := db.slot(ip)
	if e := slot.Load(); e != nil && e.addr == ip {
		return &e.info
	}
	e := &entry{addr: ip}
	db.resolve(ip, &e.info)
	// Last writer wins: a concurrent miss on the same slot may overwrite e
	// (or e it), which costs only a later recomputation. Callers already
	// holding the replaced entry's Info keep a valid, unchanged answer.
	slot.Store(e)
	return &e.info
}

// fixedCacheSlots sizes the cache of a DB made by WithFixed: it serves rule tests, a few dozen addresses.
const fixedCacheSlots = 1 << 10

// WithFixed returns a DB that answers each address of fixed with its Info, whatever db's files say, and every
// other address as db does. Rule-set tests declare the geography of the addresses they use this way, so that
// they pass against any GeoIP data (MaxMind's test files, production files, none). The new DB shares db's open
// files (read-only) and has a cache of its own; db may be nil. Keys are looked up as Lookup normalises them
// (unmapped, without zone). fixed is not copied: the caller must not change it afterwards.
func (db *DB) WithFixed(fixed map[netip.Addr]*Info) *DB {
	out := &DB{fixed: fixed}
	if db != nil && db.slots != nil {
		out.city, out.asn, out.anonymous = db.city, db.asn, db.anonymous
		out.sources = slices.Clone(db.sources)
		out.slots = make([]atomic.Pointer[entry], fixedCacheSlots)
		out.mask = fixedCacheSlots - 1
	}
	return out
}

// slot returns the cache slot of ip, which must be unmapped and zoneless.
func (db *DB) slot(ip netip.Addr) *atomic.Pointer[entry] {
	return &db.slots[hashAddr(ip)&db.mask]
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

// Close retires db: Status reports its databases as no longer loaded. It is
// safe to call while lookups are running, e.g. right after swapping a new DB
// in, because it releases nothing they use: the databases are in memory and
// the cache has no goroutines, so lookups during and after Close still
// answer correctly, and the memory goes with the last reference. (It does
// not call maxminddb's Reader.Close, which clears the reader's buffer under
// running lookups.) Closing twice is harmless.
func (db *DB) Close() error {
	if db != nil {
		db.closed.Store(true)
	}
	return nil
}
