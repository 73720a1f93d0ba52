package lists

import (
	"errors"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/testenv"
)

var testHash = Hashers{
	Device: func(s string) uint64 { return uint64(len(s))<<32 | uint64(s[0]) },
	User:   func(s string) uint64 { return uint64(len(s))<<40 | uint64(s[0]) },
}

func TestParseFile(t *testing.T) {
	src := "# a feed\n192.0.2.7\t3\n\n198.51.100.0/24 # office\n2001:DB8::1\n::ffff:203.0.113.5 1\n"
	es, err := ParseFile(strings.NewReader(src), IP, testHash)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{Value: "192.0.2.7/32", Count: 3}, {Value: "198.51.100.0/24", Note: "office"}, {Value: "2001:db8::1/128"}, {Value: "203.0.113.5/32", Count: 1}}
	if len(es) != len(want) {
		t.Fatalf("%+v", es)
	}
	for i := range want {
		if es[i] != want[i] {
			t.Errorf("entry %d: %+v, want %+v", i, es[i], want[i])
		}
	}
	for _, bad := range []string{"192.0.2.300\n", "10.0.0.0/33\n", "1.2.3.4 x\n", "1.2.3.4 1 2\n"} {
		if _, err := ParseFile(strings.NewReader("# ok\n"+bad), IP, testHash); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if es, err := ParseFile(strings.NewReader("AS64500\n13335\n"), ASN, testHash); err != nil || es[0].Value != "64500" || es[1].Value != "13335" {
		t.Fatalf("asn: %+v %v", es, err)
	}
	if _, err := ParseFile(strings.NewReader("se\nSWE\n"), Country, testHash); err == nil {
		t.Fatal("a three-letter country code parsed")
	}
}

func TestMatchByKind(t *testing.T) {
	r := NewRegistry(testHash, nil)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.Put("bad_nets", IP, []Entry{{Value: "198.51.100.0/24"}, {Value: "2001:db8::/32"}}))
	must(r.Put("bad_asns", ASN, []Entry{{Value: "AS64500"}}))
	must(r.Put("embargo", Country, []Entry{{Value: "kp"}}))
	must(r.Put("stolen_phones", Device, []Entry{{Value: "dev-1"}}))
	must(r.Put("vips", User, []Entry{{Value: "alice"}}))
	slot := func(name string) int {
		i, _, ok := r.Slot(name)
		if !ok {
			t.Fatalf("no slot for %s", name)
		}
		return i
	}
	s := r.Snapshot()
	m := s.Match(&Query{IP: netip.MustParseAddr("198.51.100.9"), ASN: 64500, Country: "KP",
		DeviceKey: testHash.Device("dev-1"), UserKey: testHash.User("alice")})
	for _, name := range []string{"bad_nets", "bad_asns", "embargo", "stolen_phones", "vips"} {
		if !m.Has(slot(name)) {
			t.Errorf("%s did not match", name)
		}
	}
	if m := s.Match(&Query{IP: netip.MustParseAddr("::ffff:198.51.100.9")}); !m.Has(slot("bad_nets")) {
		t.Error("an IPv4-mapped address missed its IPv4 network")
	}
	if m := s.Match(&Query{IP: netip.MustParseAddr("2001:db9::1"), ASN: 1, Country: "SE", DeviceKey: 7, UserKey: 9}); m != 0 {
		t.Errorf("unrelated event matched %b", m)
	}
	if m := s.Match(&Query{}); m != 0 {
		t.Errorf("an empty query matched %b", m)
	}
	if err := r.Put("bad_nets", ASN, nil); !errors.Is(err, ErrKind) {
		t.Errorf("redefining a list's kind: %v", err)
	}
	if err := r.Put("Bad Name", IP, nil); !errors.Is(err, ErrListName) {
		t.Errorf("bad name: %v", err)
	}
	if err := r.Put("bad_nets", IP, []Entry{{Value: "203.0.113.1"}, {Value: "nope"}}); err == nil {
		t.Error("an invalid entry was accepted")
	}
	if r.Snapshot().Match(&Query{IP: netip.MustParseAddr("203.0.113.1")}) != 0 {
		t.Error("a refused batch changed the list")
	}
}

func TestExpiry(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	r := NewRegistry(testHash, func() time.Time { return now })
	if err := r.Put("temp", IP, []Entry{{Value: "192.0.2.1", Expires: now.Add(time.Hour), Note: "INC-42"}, {Value: "192.0.2.2"}}); err != nil {
		t.Fatal(err)
	}
	q1, q2 := &Query{IP: netip.MustParseAddr("192.0.2.1")}, &Query{IP: netip.MustParseAddr("192.0.2.2")}
	if r.Snapshot().Match(q1) == 0 {
		t.Fatal("entry not live before its expiry")
	}
	now = now.Add(2 * time.Hour)
	if err := r.Maintain(); err != nil {
		t.Fatal(err)
	}
	if r.Snapshot().Match(q1) != 0 || r.Snapshot().Match(q2) == 0 {
		t.Fatal("after expiry: the expired entry still matches, or the permanent one stopped")
	}
	if had, err := r.Remove("temp", "192.0.2.2"); !had || err != nil || r.Snapshot().Match(q2) != 0 {
		t.Fatalf("remove: %v %v", had, err)
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	r := NewRegistry(testHash, nil)
	r.Put("nets", IP, []Entry{{Value: "10.0.0.0/8"}})
	r.Put("asns", ASN, []Entry{{Value: "64500"}})
	r.Put("users", User, []Entry{{Value: "u"}})
	s := r.Snapshot()
	q := &Query{IP: netip.MustParseAddr("10.1.2.3"), ASN: 64500, UserKey: 5}
	if n := testing.AllocsPerRun(1000, func() { s.Match(q) }); n != 0 {
		t.Fatalf("Match allocates %v times", n)
	}
}

// TestLoadThreatFeed loads the real ipsum feed (about 120k addresses) and looks addresses up in it.
func TestLoadThreatFeed(t *testing.T) {
	path := testenv.Shared(t, "iplists/ipsum.txt")
	r := NewRegistry(testHash, nil)
	start := time.Now()
	if err := r.LoadFile("ipsum", IP, path); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	s := r.Snapshot()
	if s.Entries() < 100_000 {
		t.Fatalf("%d entries", s.Entries())
	}
	data, _ := os.ReadFile(path)
	var first string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			first = f[0]
			break
		}
	}
	if s.Match(&Query{IP: netip.MustParseAddr(first)}) == 0 {
		t.Fatalf("%s from the feed does not match", first)
	}
	t.Logf("loaded %d entries in %v", s.Entries(), took)
}

func BenchmarkMatchThreatFeed(b *testing.B) {
	r := NewRegistry(testHash, nil)
	if err := r.LoadFile("ipsum", IP, testenv.Shared(b, "iplists/ipsum.txt")); err != nil {
		b.Fatal(err)
	}
	s := r.Snapshot()
	q := &Query{IP: netip.MustParseAddr("203.0.113.77")}
	b.ReportAllocs()
	for b.Loop() {
		s.Match(q)
	}
}

func TestExceptions(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	r := NewRegistry(testHash, func() time.Time { return now })
	e, err := r.PutException(Exception{ID: "INC-7", Rules: []string{"new_country", "anonymous_vpn"}, User: "alice", ASN: 64500,
		Expires: now.Add(7 * 24 * time.Hour), Note: "travelling on the corporate VPN"})
	if err != nil {
		t.Fatal(err)
	}
	if e.User == "alice" || !e.Suppresses("new_country") || e.Suppresses("tor_exit") {
		t.Fatalf("stored exception %+v", e)
	}
	if _, err := r.PutException(Exception{ID: "all-of-se", Rules: []string{"new_country"}, Country: "se", Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	alice := &Subject{Query: Query{UserKey: testHash.User("alice"), ASN: 64500, Country: "FR"}}
	var buf []*Exception
	if got := r.Snapshot().Exceptions(alice, buf[:0]); len(got) != 1 || got[0].ID != "INC-7" {
		t.Fatalf("alice on AS64500: %v", got)
	}
	alice.ASN = 1
	if got := r.Snapshot().Exceptions(alice, buf[:0]); len(got) != 0 {
		t.Fatalf("alice on another ASN: %v", got)
	}
	if got := r.Snapshot().Exceptions(&Subject{Query: Query{Country: "SE"}}, buf[:0]); len(got) != 1 || got[0].ID != "all-of-se" {
		t.Fatalf("anyone in SE: %v", got)
	}
	now = now.Add(2 * time.Hour)
	r.Maintain()
	if got := r.Snapshot().Exceptions(&Subject{Query: Query{Country: "SE"}}, buf[:0]); len(got) != 0 {
		t.Fatalf("expired exception still matches: %v", got)
	}
	for name, bad := range map[string]Exception{
		"no rules":    {ID: "a", User: "u", Expires: now.Add(time.Hour)},
		"no scope":    {ID: "a", Rules: []string{"x"}, Expires: now.Add(time.Hour)},
		"no expiry":   {ID: "a", Rules: []string{"x"}, User: "u"},
		"past expiry": {ID: "a", Rules: []string{"x"}, User: "u", Expires: now.Add(-time.Hour)},
		"bad network": {ID: "a", Rules: []string{"x"}, Network: "10.0.0.0/99", Expires: now.Add(time.Hour)},
		"bad id":      {ID: "a b", Rules: []string{"x"}, User: "u", Expires: now.Add(time.Hour)},
	} {
		if _, err := r.PutException(bad); !errors.Is(err, ErrException) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if ok, _ := r.DeleteException("INC-7"); !ok || len(r.ExceptionList()) != 1 {
		t.Fatal("delete")
	}
}

// TestReplaceRoundTrip: what List and ExceptionList give, ReplaceLists and ReplaceExceptions take back unchanged
// (user and device keys are not hashed again), and a state with one bad entry changes nothing.
func TestReplaceRoundTrip(t *testing.T) {
	h := Hashers{User: func(s string) uint64 { return uint64(len(s)) + 0xabc }, Device: func(s string) uint64 { return 7 }}
	a := NewRegistry(h, nil)
	if err := a.Put("vips", User, []Entry{{Value: "alice"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Put("bad", IP, []Entry{{Value: "192.0.2.7"}, {Value: "2001:db8::/32"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutException(Exception{ID: "x1", Rules: []string{"r"}, User: "bob", Network: "198.51.100.0/24",
		Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b := a.Fresh()
	if err := b.ReplaceLists(a.List(true)); err != nil {
		t.Fatal(err)
	}
	if err := b.ReplaceExceptions(a.ExceptionList()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.List(true), b.List(true)) {
		t.Fatalf("lists differ:\n%+v\n%+v", a.List(true), b.List(true))
	}
	q := Subject{Query: Query{UserKey: h.User("bob"), IP: netip.MustParseAddr("198.51.100.9")}}
	if got := b.Snapshot().Exceptions(&q, nil); len(got) != 1 || got[0].Summary() != a.Snapshot().Exceptions(&q, nil)[0].Summary() {
		t.Fatalf("restored exception does not match as the original: %+v", got)
	}
	if m := b.Snapshot().Match(&Query{UserKey: h.User("alice")}); m == 0 {
		t.Fatal("restored user list does not match its user")
	}
	before := b.List(true)
	broken := a.List(true)
	broken[0].Entries = append(broken[0].Entries, Entry{Value: "not-an-ip"})
	if err := b.ReplaceLists(broken); err == nil {
		t.Fatal("a state with an invalid entry was taken")
	}
	if !reflect.DeepEqual(before, b.List(true)) {
		t.Fatal("a refused state changed the lists")
	}
	if err := b.ReplaceExceptions([]Exception{{ID: "x2", Rules: []string{"r"}, User: "carol", Expires: time.Now().Add(time.Hour)}}); err == nil {
		t.Fatal("an exception with a user id in clear was taken as stored")
	}
}
