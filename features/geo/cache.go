package geo

import (
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
	"sync/atomic"
	"unsafe"
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
	hi, lo                       atomic.Uint64 // the address (addrWords)
	country, region, city, asOrg atomic.Uint64 // nameRef
	ids                          atomic.Uint64 // CityID<<32 | ASN
	lat, lon                     atomic.Uint64 // math.Float64bits
	flags                        atomic.Uint64 // RadiusKm | flag bits (flagHasLocation...)
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

// addrWords returns ip's 16-byte form as two words, the key of its slot.
// An IPv4 address and its mapped IPv6 form (::ffff:a.b.c.d) have the same
// 16-byte form, and so share the key and the cached answer; the zone is not
// part of it.
func addrWords(ip netip.Addr) (hi, lo uint64) {
	if ip.Is4() {
		// The common case, without As16's 16-byte array: its copy through
		// memory stalled the loads that followed it (store forwarding).
		b := ip.As4()
		return 0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(b[:]))
	}
	b := ip.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// slotHash picks the slot of the address with words hi, lo: a
// multiply-xorshift mix (SplitMix64's finaliser) carrying every input bit to
// the low bits the mask keeps, a few instructions where xxhash over the 16
// bytes took a fifth of a hit's time. Like xxhash it is unkeyed: a client
// who picks addresses that share a slot can only make them miss, which costs
// a resolution each, what any stream of new addresses costs.
func slotHash(hi, lo uint64) uint64 {
	h := hi ^ bits.RotateLeft64(lo, 31)*0x9E3779B97F4A7C15
	h = (h ^ h>>30) * 0xBF58476D1CE4E5B9
	h = (h ^ h>>27) * 0x94D049BB133111EB
	return h ^ h>>31
}

// load copies the answer for the address hi, lo into dst and reports
// whether the slot held it. It never waits: a slot being written reads as a
// miss.
func (s *slot) load(hi, lo uint64, db *DB, dst *Info) bool {
	seq := s.seq.Load()
	if seq == 0 || seq&1 != 0 || s.hi.Load() != hi || s.lo.Load() != lo {
		return false
	}
	country, region, city, asOrg := s.country.Load(), s.region.Load(), s.city.Load(), s.asOrg.Load()
	ids, lat, lon, flags := s.ids.Load(), s.lat.Load(), s.lon.Load(), s.flags.Load()
	if s.seq.Load() != seq {
		return false // overwritten while copied: the words may mix two answers
	}
	// Field by field: a composite literal is built aside and then copied
	// over *dst, which took a third of a hit's time.
	dst.Country = nameRef(country).in(db.city.data)
	dst.Region = nameRef(region).in(db.city.data)
	dst.City = nameRef(city).in(db.city.data)
	dst.CityID = uint32(ids >> 32)
	dst.Lat = math.Float64frombits(lat)
	dst.Lon = math.Float64frombits(lon)
	dst.RadiusKm = uint16(flags)
	dst.HasLocation = flags&flagHasLocation != 0
	dst.ASN = uint32(ids)
	dst.ASOrg = nameRef(asOrg).in(db.asn.data)
	dst.Anonymous = flags&flagAnonymous != 0
	dst.VPN = flags&flagVPN != 0
	dst.Tor = flags&flagTor != 0
	dst.Hosting = flags&flagHosting != 0
	dst.PublicProxy = flags&flagPublicProxy != 0
	dst.ResidentialProxy = flags&flagResidentialProxy != 0
	return true
}

// store writes info, the answer for the address hi, lo, over whatever s
// holds, unless another miss is writing s right now: that one's answer will
// do, and neither waits for the other. An answer whose names are not views of the
// DB's files is not cached (resolve only makes views; this is a guard).
func (s *slot) store(hi, lo uint64, db *DB, info *Info) {
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
	s.hi.Store(hi)
	s.lo.Store(lo)
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
	if len(s) > min(len(data), maxNameLen) {
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
