package geo

import (
	"net/netip"
	"testing"
)

// TestWithFixed: the fixed addresses answer as declared, overriding the databases; the others answer as the
// databases do; the original DB is unchanged; with no databases at all only the fixed addresses are known.
func TestWithFixed(t *testing.T) {
	db := openTestDB(t)
	milton := netip.MustParseAddr("216.160.83.56")
	linkoping := netip.MustParseAddr("89.160.20.112")
	declared := &Info{Country: "FR", City: "Paris", Tor: true}
	fixed := db.WithFixed(map[netip.Addr]*Info{milton: declared})

	if got := fixed.Lookup(milton); got != *declared {
		t.Errorf("fixed Lookup(%s) = %+v, want %+v", milton, got, *declared)
	}
	if got := fixed.Lookup(netip.MustParseAddr("::ffff:216.160.83.56")); got != *declared {
		t.Errorf("a mapped address is not looked up as the fixed one: %+v", got)
	}
	if got, want := fixed.Lookup(linkoping), db.Lookup(linkoping); got != want || got.Country != "SE" {
		t.Errorf("undeclared Lookup(%s) = %+v, want the database's %+v", linkoping, got, want)
	}
	if got := db.Lookup(milton); got.Country != "US" {
		t.Errorf("the original DB changed: %+v", got)
	}
	if len(fixed.Status()) != len(db.Status()) {
		t.Errorf("Status = %v, want the databases of the original", fixed.Status())
	}

	var none *DB
	alone := none.WithFixed(map[netip.Addr]*Info{milton: declared})
	if got := alone.Lookup(milton); got != *declared {
		t.Errorf("without databases: Lookup(%s) = %+v", milton, got)
	}
	if got := alone.Lookup(linkoping); got != (Info{}) {
		t.Errorf("without databases: Lookup(%s) = %+v, want empty", linkoping, got)
	}
}
