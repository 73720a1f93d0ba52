package lists

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzParseFile: no list file crashes the parser; what it accepts, the registry accepts as it is, and every
// network it lists matches its own first address.
func FuzzParseFile(f *testing.F) {
	for _, s := range []string{
		"# a feed\n192.0.2.7\t3\n\n198.51.100.0/24 # office\n2001:DB8::1\n",
		"AS64500 # note\n64501\n", "US\nfr # lower case\n", "device-1\n user-2 7\n",
		"::ffff:203.0.113.5 1\n0.0.0.0/0\n", "192.0.2.7 x\n", "#\n\n\t\n",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, src string, kind uint8) {
		k := Kind(kind%5 + 1)
		es, err := ParseFile(strings.NewReader(src), k, testHash)
		if err != nil {
			return
		}
		r := NewRegistry(testHash, time.Now)
		if err := r.Put("fuzz", k, es); err != nil {
			t.Fatalf("entries the parser accepted were refused: %v (%q)", err, src)
		}
		if k != IP {
			return
		}
		slot, _, ok := r.Slot("fuzz")
		if !ok {
			t.Fatal("the list is not defined after Put")
		}
		snap := r.Snapshot()
		for _, e := range es {
			p, err := netip.ParsePrefix(e.Value)
			if err != nil {
				t.Fatalf("parsed IP entry %q is not a network: %v", e.Value, err)
			}
			if !snap.Match(&Query{IP: p.Addr()}).Has(slot) {
				t.Fatalf("%s does not match its own list", p)
			}
		}
	})
}
