package geo

import (
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// TestConcurrentMissNeverTearsAnAnswer has goroutines share a one-slot cache
// between two addresses whose answers differ in every word, each goroutine
// looking one address up twice in a row and then the other, out of
// phase with the rest: lookups hit the slot while misses of the other
// address overwrite it. Every answer must be whole, one address's, never a
// mix of the two; run with -race too (every access to a slot is atomic).
func TestConcurrentMissNeverTearsAnAnswer(t *testing.T) {
	db := openTestDBSlots(t, 1)
	addrs := [2]netip.Addr{netip.MustParseAddr("81.2.69.142"), netip.MustParseAddr("89.160.20.112")}
	var want [2]Info
	for i, ip := range addrs {
		want[i] = db.Lookup(ip)
	}
	if want[0].City != "London" || want[1].City != "Linköping" || want[1].ASOrg == "" || !want[0].Tor {
		t.Fatalf("unexpected answers %+v", want)
	}

	// A torn read needs a reader and a writer on the slot at the same
	// instant: run for a while rather than a number of rounds, so that the
	// test is as searching under -race as without.
	deadline := time.Now().Add(time.Second)
	var lookups, hits atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var got Info
			for i := 0; i%1024 != 0 || time.Now().Before(deadline); i++ {
				lookups.Add(1)
				which := (i/2 + g) % 2
				if _, ok := cached(db, addrs[which]); ok {
					hits.Add(1)
				}
				db.LookupInto(addrs[which], &got)
				if got != want[which] {
					t.Errorf("Lookup(%s) = %+v\nwant %+v", addrs[which], got, want[which])
					return
				}
			}
		})
	}
	wg.Wait()
	// Both must have happened for the test to mean anything.
	if n, all := hits.Load(), lookups.Load(); n == 0 || n == all {
		t.Errorf("%d of %d lookups found their address cached: want hits and misses", n, all)
	} else {
		t.Logf("%d lookups, %d hits", all, n)
	}
}

// TestNamesOutliveTheDB: the names in an Info are views of the database file
// in memory, which the Info keeps alive: they read the same after the DB is
// closed, dropped and collected, as after a reload.
func TestNamesOutliveTheDB(t *testing.T) {
	db := openTestDB(t)
	info := db.Lookup(netip.MustParseAddr("89.160.20.112"))
	db.Close()
	db = nil
	for range 3 {
		runtime.GC()
	}
	// Written over whatever memory a wrongly freed file would have left.
	garbage := make([][]byte, 64)
	for i := range garbage {
		garbage[i] = []byte(strings.Repeat("x", 4096))
	}
	if info.City != "Linköping" || info.ASOrg != "Bredband2 AB" || info.Country != "SE" || info.Region != "E" {
		t.Errorf("names changed after the DB went: %+v", info)
	}
	runtime.KeepAlive(garbage)
}

// TestNameRefs: a name's position in the data section survives the round
// trip through a slot, the empty name is the zero ref, and a string that is
// not a view of the data is refused rather than stored.
func TestNameRefs(t *testing.T) {
	data := []byte("..London..Bredband2 AB")
	for _, s := range []string{"", string(data[2:8]), string(data[10:])} {
		// string(data[...]) copies: look the view up instead.
		if s != "" {
			i := strings.Index(string(data), s)
			s = unsafeView(data[i : i+len(s)])
		}
		ref, ok := refOf(data, s)
		if !ok || ref.in(data) != s {
			t.Errorf("refOf(%q) = %x, %v; back %q", s, ref, ok, ref.in(data))
		}
	}
	if _, ok := refOf(data, strings.Clone("London")); ok {
		t.Error("a copy of a name was taken for a view of the data")
	}
	if _, ok := refOf(nil, "London"); ok {
		t.Error("a name was taken for a view of no data")
	}
	// Starting inside the data but running past its end: not a view of it.
	if _, ok := refOf(data[:3], unsafeView(data[2:8])); ok {
		t.Error("a name longer than the data was taken for a view of it")
	}
	if _, ok := refOf(data[:7], unsafeView(data[2:8])); ok {
		t.Error("a name running past the data was taken for a view of it")
	}
}

func unsafeView(b []byte) string { return unsafe.String(&b[0], len(b)) }

// TestReadNameSizes: readName reads every size encoding of the MaxMind DB
// format (in the control byte, and in 1, 2 or 3 more bytes), directly and
// through a pointer, as the view of the bytes maxminddb's ReadString copies;
// and refuses what is not a string, too long, or cut off.
func TestReadNameSizes(t *testing.T) {
	var buf []byte
	str := func(n int, header ...byte) uint {
		at := uint(len(buf))
		buf = append(buf, header...)
		buf = append(buf, strings.Repeat(string(rune('a'+len(header))), n)...)
		return at
	}
	short := str(5, 0x45)                    // size 5 in the control byte
	one := str(40, 0x5d, 40-29)              // 29 + 1 byte
	two := str(300, 0x5e, 0, 300-285)        // 285 + 2 bytes
	three := str(70000, 0x5f, 0, 0x10, 0x23) // 65821 + 3 bytes: 65821+4131
	empty := str(0, 0x40)
	pointer := uint(len(buf))
	buf = append(buf, 0x20|byte(one>>8), byte(one)) // pointer, 11-bit form
	number := uint(len(buf))
	buf = append(buf, 0xa2, 1, 2) // uint16
	cut := uint(len(buf))
	buf = append(buf, 0x45, 'x', 'y') // claims 5 bytes, 2 left
	dec := mmdbdata.NewDecoder(buf, 0)

	for _, tc := range []struct {
		at     uint
		maxLen uint
		want   int // length; -1: an error
	}{
		{short, maxNameLen, 5}, {one, maxNameLen, 40}, {two, maxNameLen, 300}, {three, 100_000, 69952},
		{empty, maxNameLen, 0}, {pointer, maxNameLen, 40},
		{two, 299, -1}, {number, maxNameLen, -1}, {cut, maxNameLen, -1},
	} {
		c := dec.CursorAt(tc.at)
		got, next, err := readName(c, buf, tc.maxLen)
		if tc.want < 0 {
			if err == nil {
				t.Errorf("readName at %d = %d bytes, want an error", tc.at, len(got))
			}
			continue
		}
		want, wantNext, err2 := c.ReadString()
		if err != nil || err2 != nil || got != want || len(got) != tc.want || next != wantNext {
			t.Errorf("readName at %d = %d bytes, %v; ReadString %d bytes, %v; same successor %v",
				tc.at, len(got), err, len(want), err2, next == wantNext)
		}
		if _, ok := refOf(buf, got); !ok && got != "" && len(got) <= maxNameLen {
			t.Errorf("readName at %d: not a view of the data", tc.at)
		}
	}
}
