package geo

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// Info is what riskd knows about an IP address. LookupInto copies it into
// the caller's; its strings alias the database file held in memory (see DB), so
// they are read-only, and stay valid as long as the caller keeps them.
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
	// (at most maxCacheSlots); <= 0 means DefaultCacheSize. Each slot takes
	// 88 bytes (see slot), allocated at Open. The cache is direct-mapped, so
	// colliding addresses evict each other: with as many distinct busy
	// addresses as slots about 63% of them are resident at a time, with a
	// quarter as many about 89%.
	CacheSize int
	// Verify runs maxminddb's full structural check of each file in Open
	// (about 1 s per million networks). Lookups on a damaged file never
	// panic, they count Errors and return what they could decode; Verify
	// refuses such a file up front instead, which suits files from sources
	// riskd does not control.
	Verify bool
}

// DefaultCacheSize covers the distinct addresses of a busy hour of logins.
// It rounds up to 131,072 slots: 11.5 MB, all of it at Open and none of it
// later (the names are not copied into the cache), in one pointer-free
// array the garbage collector does not scan.
const DefaultCacheSize = 100_000

// maxCacheSlots bounds CacheSize (88 GB of slots), so that a huge value
// cannot overflow the rounding.
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

// DB is an immutable set of open readers plus a lookup cache. LookupInto is
// safe for concurrent use, also with Close.
//
// The files are read into memory rather than memory-mapped: an operator who
// copies a new database over the old one in place (cp, not mv) would
// otherwise make a mapped reader fault (SIGBUS) in the middle of a lookup,
// and a reload could not close the old DB while requests still use it.
// Nothing ever writes those bytes, so the names in an Info are views of
// them rather than copies (decode.go): an Info's strings cost no
// allocation, and keep the file's memory alive as long as anyone holds one,
// which is what makes them safe after a reload and Close. The price: a name
// kept long after a reload (a decision held in a log ring) keeps the old
// file's memory from being collected until it is dropped.
//
// The cache is direct-mapped and lock-free: slot
// slotHash(addrWords(ip))&mask holds at most one address's answer, inline,
// guarded by a sequence counter (a seqlock, see slot). A hit loads the
// counter, the address and the answer's eight words, and rereads the
// counter: unchanged, the copy is whole. A miss
// resolves the address straight into the caller's Info and writes it over
// whatever the slot held. Nothing is allocated either way, the names in the
// slot being offsets into the database files; there are no locks, no
// background goroutines and no eviction bookkeeping.
//
// Why inline, not a pointer to an immutable entry per slot (its previous
// design): an entry is an allocation per miss, and with more busy addresses
// than slots most lookups miss (87% at a million users over the default
// 131,072 slots, 30% at 100,000), so the request path allocated 111 B per
// decision on average at a million users. Inline, a hit also reads one
// place in memory where it read two, the slot and then its entry. The
// answer is copied out, not pointed into, because the next miss may
// overwrite the slot. Why a seqlock: a miss overwrites a slot while other
// lookups read it, and a reader must never copy out half of one address's
// answer and half of another's. Every word is read and written with
// sync/atomic, so the reads that race a writer are defined (and -race
// clean); the counter only tells a reader to discard them. A writer that
// finds another writer in the slot (odd counter) does not wait: it answers
// its caller and leaves the slot alone, so no lookup ever waits for another.
// Why offsets, not the strings themselves: a slot then holds no pointers,
// which sync/atomic could not copy together with their lengths, and which
// the collector would have to scan. Why views rather than a table of
// interned names built at Open: the table would need a walk of every record
// of every file at each reload, and copies of tens of thousands of names
// whose bytes are in memory already.
//
// It replaced Ristretto, whose Get records every key in admission buffers
// that allocate (a new 64-slot ring stripe each time one fills: ~1
// allocation per 64 requests) and whose policy runs in goroutines of its
// own. The cached data is derived, so losing an answer costs only a
// recomputation: a hot address evicted by a colliding one is simply
// resolved again on its next lookup, and the slot count, not an admission
// policy, keeps the hit rate up.
type DB struct {
	city, asn, anonymous reader
	sources              []Source
	slots                []slot // nil when no database is configured
	mask                 uint64 // len(slots) - 1
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
	// data is the file's data section, which the names in an Info are views
	// of; dec decodes records in it (maxminddb's own Decode would take the
	// destination as an interface, moving the caller's Info to the heap).
	data []byte
	dec  *mmdbdata.Decoder
}

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
		md := r.r.Metadata
		*s.dst = r
		db.sources = append(db.sources, Source{
			Kind:         s.kind,
			Path:         s.path,
			DatabaseType: md.DatabaseType,
			BuildTime:    md.BuildTime().UTC(),
			Loaded:       true,
		})
	}
	if len(db.sources) == 0 {
		return db, nil
	}

	n := cacheSlots(cfg.CacheSize)
	db.slots = make([]slot, n)
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

func openReader(kind, path string, accepts []string, verify bool) (reader, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return reader{}, fmt.Errorf("geo: %s database %s: %w", kind, path, err)
	}
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return reader{}, fmt.Errorf("geo: %s database %s: %w", kind, path, err)
	}
	if !slices.ContainsFunc(accepts, func(a string) bool { return strings.Contains(r.Metadata.DatabaseType, a) }) {
		return reader{}, fmt.Errorf("geo: %s database %s: %w: %q", kind, path, ErrWrongDatabase, r.Metadata.DatabaseType)
	}
	if verify {
		if err := r.Verify(); err != nil {
			return reader{}, fmt.Errorf("geo: %s database %s: %w", kind, path, err)
		}
	}
	section := dataSection(data, r.Metadata)
	return reader{
		r: r, path: path, v4Only: r.Metadata.IPVersion == 4,
		data: section, dec: mmdbdata.NewDecoder(section, 0),
	}, nil
}

// metadataMarker starts an mmdb file's metadata, which ends its data section.
var metadataMarker = []byte("\xAB\xCD\xEFMaxMind.com")

// dataSection returns the part of an mmdb file that record offsets and
// pointers count from: after the search tree and its 16-byte separator, up
// to the metadata marker. maxminddb.OpenBytes has checked the bounds already.
func dataSection(file []byte, md maxminddb.Metadata) []byte {
	start := md.NodeCount*(md.RecordSize/4) + 16
	return file[start:bytes.LastIndex(file, metadataMarker)]
}

// LookupInto writes what the databases know about ip into dst, without
// allocating. Unknown addresses, invalid ones, a DB with no database
// configured and a nil *DB all give an empty Info.
//
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is looked up, and cached, as
// the IPv4 address it carries.
func (db *DB) LookupInto(ip netip.Addr, dst *Info) {
	if db == nil || !ip.IsValid() {
		*dst = Info{}
		return
	}
	if db.fixed != nil {
		if info, ok := db.fixed[ip.Unmap().WithZone("")]; ok {
			*dst = *info
			return
		}
	}
	if db.slots == nil {
		*dst = Info{}
		return
	}
	// The key needs neither Unmap nor WithZone: the 16-byte form of an IPv4
	// address is its mapped form, and has no zone.
	hi, lo := addrWords(ip)
	s := &db.slots[slotHash(hi, lo)&db.mask]
	if s.load(hi, lo, db, dst) {
		return
	}
	*dst = Info{}
	db.resolve(ip.Unmap().WithZone(""), dst)
	s.store(hi, lo, db, dst)
}

// Lookup is LookupInto returning the Info, for callers off the request path
// and tests.
func (db *DB) Lookup(ip netip.Addr) Info {
	var info Info
	db.LookupInto(ip, &info)
	return info
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
		out.slots = make([]slot, fixedCacheSlots)
		out.mask = fixedCacheSlots - 1
	}
	return out
}

// resolve fills info from every configured database. A damaged record leaves
// the fields it did not reach empty and counts an error: one bad record is no
// reason to fail a login decision.
func (db *DB) resolve(ip netip.Addr, info *Info) {
	if c, ok := db.record(&db.city, ip); ok {
		db.count(decodeCity(c, db.city.data, info))
	}
	if c, ok := db.record(&db.asn, ip); ok {
		db.count(decodeASN(c, db.asn.data, info))
	}
	if c, ok := db.record(&db.anonymous, ip); ok {
		db.count(decodeAnonymous(c, info))
	}
}

// record returns a cursor at ip's record in rd, false when rd is not
// configured or holds nothing for ip.
func (db *DB) record(rd *reader, ip netip.Addr) (mmdbdata.Cursor, bool) {
	if rd.r == nil || (rd.v4Only && ip.Is6()) {
		return mmdbdata.Cursor{}, false
	}
	res := rd.r.Lookup(ip)
	if err := res.Err(); err != nil {
		db.decodeErrors.Add(1)
		return mmdbdata.Cursor{}, false
	}
	if !res.Found() {
		return mmdbdata.Cursor{}, false
	}
	return rd.dec.CursorAt(uint(res.Offset())), true
}

func (db *DB) count(err error) {
	if err != nil {
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
