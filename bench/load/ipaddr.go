package main

import (
	"net/netip"
	"strconv"
)

// network is an IPv4 prefix that traffic draws addresses from, with its share of the traffic drawn from a list.
type network struct {
	base   uint32
	size   uint32 // addresses in the prefix
	weight float64
}

func mustNetwork(cidr string, weight float64) network {
	p := netip.MustParsePrefix(cidr)
	a := p.Addr().As4()
	return network{base: uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]),
		size: 1 << (32 - p.Bits()), weight: weight}
}

// host picks the address of the prefix that u falls on.
func (n network) host(u uint64) uint32 { return n.base + uint32(u%uint64(n.size)) }

// pickNetwork picks by weight the network that u (uniform over 64 bits) falls on.
func pickNetwork(nets []network, u uint64) network {
	var total float64
	for _, n := range nets {
		total += n.weight
	}
	x := float64(u>>11) / (1 << 53) * total
	for _, n := range nets {
		if x < n.weight {
			return n
		}
		x -= n.weight
	}
	return nets[len(nets)-1]
}

// demoHomeNetworks are the networks of bench/geogen's demo set (bench/geogen/README.md) that resolve to a city
// or an ASN, weighted roughly by market, so part of the population exercises every geo lookup; a few
// legitimate users browse through a VPN.
func demoHomeNetworks() []network {
	return []network{
		mustNetwork("216.160.83.56/29", 3),   // Milton, US, AS209
		mustNetwork("198.51.100.0/25", 3),    // New York, US, AS7922
		mustNetwork("12.81.92.0/22", 2),      // AS7018 AT&T
		mustNetwork("2.125.160.216/29", 2),   // Boxford, GB
		mustNetwork("192.0.2.0/24", 2),       // Berlin, DE, AS3320
		mustNetwork("89.160.20.112/28", 1),   // Linköping, SE, AS29518
		mustNetwork("203.0.113.0/25", 1),     // Sydney, AU, AS1221
		mustNetwork("1.128.0.0/11", 1),       // AS1221 Telstra
		mustNetwork("175.16.199.0/24", 1),    // Changchun, CN
		mustNetwork("67.43.156.0/24", 0.3),   // BT, AS35908
		mustNetwork("1.0.0.0/24", 0.2),       // AS15169 Google
		mustNetwork("1.2.0.0/16", 0.3),       // anonymous VPN
		mustNetwork("203.0.113.128/25", 0.2), // Singapore, VPN + hosting
	}
}

// demoAttackNetworks are the demo set's anonymous networks (hosting, Tor, proxies, VPN), where credential
// stuffing comes from.
func demoAttackNetworks() []network {
	return []network{
		mustNetwork("71.160.223.0/24", 1),   // hosting
		mustNetwork("198.51.100.128/25", 1), // Amsterdam, AS60068 Datacamp, Tor exit
		mustNetwork("65.0.0.0/13", 1),       // Tor exit
		mustNetwork("186.30.236.0/24", 1),   // public proxy
		mustNetwork("203.0.113.128/25", 1),  // Singapore, VPN + hosting
		mustNetwork("81.2.69.0/24", 1),      // every anonymity flag
	}
}

// reservedIPv4 reports whether a is outside the public unicast space (RFC 6890), or in a documentation range
// that the demo GeoIP set maps to a city: random "public" addresses avoid both.
func reservedIPv4(a uint32) bool {
	switch a >> 24 {
	case 0, 10, 127:
		return true
	}
	if a>>24 >= 224 { // multicast and 240/4
		return true
	}
	for _, r := range [...]struct{ base, mask uint32 }{
		{100<<24 | 64<<16, 0xffc00000},          // 100.64/10 shared address space
		{169<<24 | 254<<16, 0xffff0000},         // link local
		{172<<24 | 16<<16, 0xfff00000},          // 172.16/12
		{192<<24 | 0<<16, 0xffff0000},           // 192.0/16: IETF protocol assignments, TEST-NET-1
		{192<<24 | 168<<16, 0xffff0000},         // 192.168/16
		{198<<24 | 18<<16, 0xfffe0000},          // benchmarking 198.18/15
		{198<<24 | 51<<16 | 100<<8, 0xffffff00}, // TEST-NET-2
		{203<<24 | 0<<16 | 113<<8, 0xffffff00},  // TEST-NET-3
	} {
		if a&r.mask == r.base {
			return true
		}
	}
	return false
}

// publicIPv4 maps u to a public-looking address; the same u gives the same address.
func publicIPv4(u uint64) uint32 {
	for range 32 { // reserved space is ~14 %: 32 tries leave a 1e-27 chance of falling through
		if a := uint32(u); !reservedIPv4(a) {
			return a
		}
		u = mix64(u)
	}
	return 8<<24 | 8<<16 | 8<<8 | 8
}

// sprayIPv4 maps a sequence number to a distinct public address for each n below 2^27: eight /8 blocks
// assigned to organisations that announce little, so the addresses look public and never repeat in a run.
func sprayIPv4(n uint64) uint32 {
	blocks := [...]uint32{11, 21, 22, 26, 28, 29, 30, 33}
	return blocks[(n>>24)%uint64(len(blocks))]<<24 | uint32(n&0xffffff)
}

func appendIPv4(dst []byte, a uint32) []byte {
	dst = strconv.AppendUint(dst, uint64(a>>24), 10)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, uint64(a>>16&0xff), 10)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, uint64(a>>8&0xff), 10)
	dst = append(dst, '.')
	return strconv.AppendUint(dst, uint64(a&0xff), 10)
}
