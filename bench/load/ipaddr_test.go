package main

import (
	"net/netip"
	"testing"
)

func ip4(s string) uint32 {
	a := netip.MustParseAddr(s).As4()
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

func TestReservedIPv4(t *testing.T) {
	for s, want := range map[string]bool{
		"10.1.2.3": true, "127.0.0.1": true, "172.20.0.1": true, "192.168.1.1": true, "100.64.0.1": true,
		"169.254.1.1": true, "224.0.0.1": true, "255.255.255.255": true, "0.1.2.3": true, "198.18.0.1": true,
		"192.0.2.1": true, "198.51.100.1": true, "203.0.113.200": true,
		"8.8.8.8": false, "81.2.69.142": false, "172.32.0.1": false, "100.128.0.1": false, "203.0.114.1": false,
	} {
		if got := reservedIPv4(ip4(s)); got != want {
			t.Errorf("reservedIPv4(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestGeneratedAddresses(t *testing.T) {
	for i := range uint64(100_000) {
		if a := publicIPv4(mix64(i)); reservedIPv4(a) {
			t.Fatalf("publicIPv4 gave reserved %s", appendIPv4(nil, a))
		}
	}
	seen := map[uint32]bool{}
	for n := range uint64(1 << 18) {
		a := sprayIPv4(n + 1<<24 - 1<<17) // across a /8 boundary
		if seen[a] || reservedIPv4(a) {
			t.Fatalf("sprayIPv4(%d) = %s repeats or is reserved", n, appendIPv4(nil, a))
		}
		seen[a] = true
	}
	for _, n := range append(demoHomeNetworks(), demoAttackNetworks()...) {
		for u := range uint64(100) {
			if h := n.host(mix64(u)); h < n.base || h-n.base >= n.size {
				t.Fatalf("host %s outside the network at %s of %d addresses", appendIPv4(nil, h), appendIPv4(nil, n.base), n.size)
			}
		}
	}
	if got := string(appendIPv4(nil, ip4("1.20.255.0"))); got != "1.20.255.0" {
		t.Errorf("appendIPv4 = %s", got)
	}
}
