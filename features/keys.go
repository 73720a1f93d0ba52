package features

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"unsafe"

	"github.com/dchest/siphash"
)

// Hasher turns identifiers into state keys with SipHash-2-4 under a secret key. A keyed hash, unlike a plain
// one, means a client cannot choose a user id whose key collides with someone else's profile, and the state
// tables hold no identifier in clear.
type Hasher struct{ k0, k1 uint64 }

// Each kind of subject hashes under its own key so that equal strings of different kinds never share a key.
const (
	domainUser uint64 = iota + 1
	domainDevice
	domainIP
	_ // once the networks' domain; they are now folded subnet keys (Network)
	domainSubnet
	domainASN
	domainTenant
	domainEvaluation
	domainScope // with the scope in the second byte (Scoped)
)

// NewHasher derives the hashing key from secret. The same secret gives the same keys, which is what lets
// state outlive a restart and be shared by several instances.
func NewHasher(secret []byte) Hasher {
	sum := sha256.Sum256(secret)
	return Hasher{k0: binary.LittleEndian.Uint64(sum[0:8]), k1: binary.LittleEndian.Uint64(sum[8:16])}
}

func (h Hasher) str(domain uint64, s string) uint64 {
	return siphash.Hash(h.k0^domain, h.k1, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// User returns the state key of a user id.
func (h Hasher) User(id string) uint64 { return h.str(domainUser, id) }

// Device returns the state key of a device id.
func (h Hasher) Device(id string) uint64 { return h.str(domainDevice, id) }

// IP returns the state key of an address; an IPv4-mapped IPv6 address keys as its IPv4 form.
func (h Hasher) IP(a netip.Addr) uint64 {
	b := a.Unmap().As16()
	return siphash.Hash(h.k0^domainIP, h.k1, b[:])
}

// Subnet returns the state key of an address's network: its /24 for IPv4 (IPv4-mapped addresses included), its
// /64 for IPv6, the block one customer, or one attacker's host, usually holds; the same networks as Network,
// keyed to 64 bits for the velocity tables. An invalid address has none (0).
func (h Hasher) Subnet(a netip.Addr) uint64 {
	if !a.IsValid() {
		return 0
	}
	if a = a.Unmap(); a.Is4() {
		b := a.As4()
		return siphash.Hash(h.k0^domainSubnet, h.k1, b[:3])
	}
	b := a.As16()
	return siphash.Hash(h.k0^domainSubnet, h.k1, b[:8])
}

// Tenant returns the 32-bit key a profile marks trust reported for one tenant with (store.Device.TrustedBy):
// never 0, which means every tenant.
func (h Hasher) Tenant(name string) uint32 { return nonZero32(h.str(domainTenant, name)) }

// Evaluation returns the tag that binds an evaluation's serial number to its tenant: without the secret key a
// client can neither make an id for a tenant nor tell which tenant an id is for.
func (h Hasher) Evaluation(serial uint64, tenant string) uint64 {
	var b [64]byte
	binary.LittleEndian.PutUint64(b[:8], serial)
	n := 8
	if len(tenant) <= len(b)-8 {
		n += copy(b[8:], tenant)
	} else {
		binary.LittleEndian.PutUint64(b[8:16], h.str(domainTenant, tenant))
		n += 8
	}
	return siphash.Hash(h.k0^domainEvaluation, h.k1, b[:n])
}

// ASN returns the state key of an autonomous system number. ASNs are public, but keying them as the other
// subjects are spreads them evenly over the velocity shards and Redis slots.
func (h Hasher) ASN(asn uint32) uint64 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], asn)
	return siphash.Hash(h.k0^domainASN, h.k1, b[:])
}

// Scoped returns the key under which events of scope s count for the subject of key: a second key per subject,
// so that the same tables count checkouts or registrations apart from every other event (txvelocity.go). It is
// a keyed hash of the subject's key, so scoped keys are as unpredictable, and as evenly spread, as the others.
func (h Hasher) Scoped(key uint64, s Scope) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], key)
	return siphash.Hash(h.k0^(domainScope|uint64(s)<<8), h.k1, b[:])
}
