package server

import (
	"net"
	"testing"
)

// TestClientOfGroupsIPv6By64: an IPv6 host commonly holds a whole /64, so its addresses count as one client;
// an IPv4-mapped address counts as the IPv4 one.
func TestClientOfGroupsIPv6By64(t *testing.T) {
	key := func(ip string) string {
		c, ok := clientOf(&net.TCPAddr{IP: net.ParseIP(ip), Port: 1})
		if !ok {
			t.Fatalf("%s: not limited", ip)
		}
		return c.String()
	}
	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
	} {
		if key(c.a) != key(c.b) {
			t.Errorf("%s (%s) and %s (%s) should be one client", c.a, key(c.a), c.b, key(c.b))
		}
	}
	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"192.0.2.7", "192.0.2.8"},
	} {
		if key(c.a) == key(c.b) {
			t.Errorf("%s and %s should be two clients", c.a, c.b)
		}
	}
	if _, ok := clientOf(&net.UnixAddr{Name: "/tmp/s", Net: "unix"}); ok {
		t.Error("a Unix socket peer should not be limited")
	}
}

// TestNegativeConnsBoundMeansNone: MaxConnsPerClient below zero is documented as no bound (serve's
// --max-conns-per-ip 0 maps to it), and must not fall back to the default bound of 512: a load balancer or a
// benchmark holding more connections from one address would see its connections closed at accept, and
// reconnect over and over.
func TestNegativeConnsBoundMeansNone(t *testing.T) {
	s := newTestServerWith(t, func(c *Config) { c.MaxConnsPerClient = -1 })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := s.limitConns(ln); got != ln {
		t.Fatalf("MaxConnsPerClient -1 wraps the listener in %T (bound %d), want it unbounded", got, s.cfg.MaxConnsPerClient)
	}
}
