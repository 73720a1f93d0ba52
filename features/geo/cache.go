package geo

import (
	"encoding/binary"
	"math"
	"net/netip"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// slot is one cache slot: an address and its answer, inline, under a
// sequence counter (the why is in DB's comment). Every field is read and
// written atomically; seq says whether what a reader copied out is whole:
//
//   - 0: never written, holds nothing;
//   - odd: a miss is writing it, readers treat it as empty;
//   - even: stable since the value the reader saw before copying, if it
//     still reads the same after.
//
// The names are nameRefs into the data sections of the DB's readers
// (country, region and city into the City file's, asOrg into the ASN
// file's): a slot holds no pointers. 11 words, 88 bytes.
type slot struct {
	seq                          atomic.Uint64
	addr                         [2]atomic.Uint64 // slotKey
	country, region, city, asOrg atomic.Uint64    // nameRef
	ids                          atomic.Uint64    // CityID<<32 | ASN
	lat, lon                     atomic.Uint64    // math.Float64bits
	flags                        atomic.Uint64    // RadiusKm | flag bits (flagHasLocation...)
}

// Bits of slot.flags above the 16 bits of RadiusKm.
const (
	flagHasLocation = 1 << (16 + iota)
	flagAnonymous
	flagVPN
	flagTor
	flagHosting
	flagPublicProxy
	flagResidentialProxy
)

// slotKey is an unmapped, zoneless address as the two halves of its 16
// bytes. An unmapped IPv4 address has the ::ffff:0:0/96 form there, which no
// unmapped IPv6 address has, so the key tells the families apart.
type slotKey [2]uint64

// slotKeyOf returns ip's key and the hash that picks its slot; ip must be
// unmapped and zoneless.
func slotKeyOf(ip netip.Addr) (slotKey, uint64) {
	b := ip.As16()
	return slotKey{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}, xxhash.Sum64(b[:])
}

// load copies the answer for key into dst and reports whether the slot
// held it. It never waits: a slot being written reads as a miss.
func (s *slot) load(key slotKey, db *DB, dst *Info) bool {
	seq := s.seq.Load()
	if seq == 0 || seq&1 != 0 || s.addr[0].Load() != key[0] || s.addr[1].Load() != key[1] {
		return false
	}
	country, region, city, asOrg := s.country.Load(), s.region.Load(), s.city.Load(), s.asOrg.Load()
	ids, lat, lon, flags := s.ids.Load(), s.lat.Load(), s.lon.Load(), s.flags.Load()
	if s.seq.Load() != seq {
		return false // overwritten while copied: the words may mix two answers
	}
	*dst = Info{
		Country:          nameRef(country).in(db.city.data),
		Region:           nameRef(region).in(db.city.data),
		City:             nameRef(city).in(db.city.data),
		CityID:           uint32(ids >> 32),
		Lat:              math.Float64frombits(lat),
		Lon:              math.Float64frombits(lon),
		RadiusKm:         uint16(flags),
		HasLocation:      flags&flagHasLocation != 0,
		ASN:              uint32(ids),
		ASOrg:            nameRef(asOrg).in(db.asn.data),
		Anonymous:        flags&flagAnonymous != 0,
		VPN:              flags&flagVPN != 0,
		Tor:              flags&flagTor != 0,
		Hosting:          flags&flagHosting != 0,
		PublicProxy:      flags&flagPublicProxy != 0,
		ResidentialProxy: flags&flagResidentialProxy != 0,
	}
	return true
}

// store writes info, the answer for key, over whatever s holds, unless
// another miss is writing s right now: that one's answer will do, and
// neither waits for the other. An answer whose names are not views of the
// DB's files is not cached (resolve only makes views; this is a guard).
func (s *slot) store(key slotKey, db *DB, info *Info) {
	country, ok1 := refOf(db.city.data, info.Country)
	region, ok2 := refOf(db.city.data, info.Region)
	city, ok3 := refOf(db.city.data, info.City)
	asOrg, ok4 := refOf(db.asn.data, info.ASOrg)
	if !(ok1 && ok2 && ok3 && ok4) {
		return
	}
	flags := uint64(info.RadiusKm)
	for _, f := range [...]struct {
		set bool
		bit uint64
	}{
		{info.HasLocation, flagHasLocation}, {info.Anonymous, flagAnonymous}, {info.VPN, flagVPN},
		{info.Tor, flagTor}, {info.Hosting, flagHosting}, {info.PublicProxy, flagPublicProxy},
		{info.ResidentialProxy, flagResidentialProxy},
	} {
		if f.set {
			flags |= f.bit
		}
	}

	seq := s.seq.Load()
	if seq&1 != 0 || !s.seq.CompareAndSwap(seq, seq+1) {
		return
	}
	s.addr[0].Store(key[0])
	s.addr[1].Store(key[1])
	s.country.Store(uint64(country))
	s.region.Store(uint64(region))
	s.city.Store(uint64(city))
	s.asOrg.Store(uint64(asOrg))
	s.ids.Store(uint64(info.CityID)<<32 | uint64(info.ASN))
	s.lat.Store(math.Float64bits(info.Lat))
	s.lon.Store(math.Float64bits(info.Lon))
	s.flags.Store(flags)
	s.seq.Store(seq + 2)
}

// nameRef locates a name in a reader's data section: offset<<16 | length.
// Names are at most maxNameLen bytes, well within 16 bits; 0 is "".
type nameRef uint64

// refOf returns the nameRef of s, a view of data; false when s is not one.
func refOf(data []byte, s string) (nameRef, bool) {
	if s == "" {
		return 0, true
	}
	if len(data) == 0 || len(s) > maxNameLen {
		return 0, false
	}
	// Addresses compared as integers only, never turned back into pointers.
	base := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	if p < base || p-base > uintptr(len(data)-len(s)) {
		return 0, false
	}
	return nameRef(uint64(p-base)<<16 | uint64(len(s))), true
}

// in returns the name r locates in data.
func (r nameRef) in(data []byte) string {
	n := uint64(r & 0xffff)
	if n == 0 {
		return ""
	}
	off := uint64(r >> 16)
	b := data[off : off+n : off+n]
	return unsafe.String(&b[0], len(b))
}
