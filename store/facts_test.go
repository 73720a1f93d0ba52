package store

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"runtime"
	"sync"
	"testing"
)

// attempt is one decision's attempt on m, returning what it read.
func attempt(m *Memory, s Subjects, at int64) Facts {
	var r Reading
	m.Observe(s, at, SetOf(Attempts), &r)
	return r.Facts
}

func userAt(user, ip uint64) Subjects {
	return Subjects{User: mix(user), HasUser: true, IP: mix(ip), HasIP: true, Subnet: mix(ip >> 8), HasSubnet: true}
}

// TestDistinctExactForSmallCounts: up to the set's size every count is exact, whatever the keys, and a repeated
// item is counted once. The reading is as of before the attempt.
func TestDistinctExactForSmallCounts(t *testing.T) {
	for seed := range uint64(200) {
		m := NewMemory(0)
		for n := range uint64(9) {
			s := userAt(seed<<20|n, seed)
			s.Device, s.HasDevice = mix(seed<<40), true
			f := attempt(m, s, t0+int64(n))
			if f.IPUsers10m != uint32(n) || f.IPUsers1h != uint32(n) || f.IPUsers24h != uint32(n) || f.SubnetUsers1h != uint32(n) ||
				f.DeviceUsers24h != uint32(n) {
				t.Fatalf("seed %d, before user %d: %+v", seed, n+1, f)
			}
			if again := attempt(m, s, t0+int64(n)); n < 8 && (again.IPUsers10m != uint32(n+1) || again.DeviceUsers24h != uint32(n+1)) {
				t.Fatalf("seed %d: the same user again reads %d, %d users, want %d", seed, again.IPUsers10m, again.DeviceUsers24h, n+1)
			}
		}
		m = NewMemory(0)
		u := Subjects{User: mix(seed), HasUser: true}
		for n := range uint64(17) {
			u.IP, u.HasIP = mix(seed<<32|n), true
			u.Device, u.HasDevice = mix(seed<<36|n%9), true
			u.Country = [2]byte{'A' + byte(n%9), 'Z'}
			f := attempt(m, u, t0+60)
			if f.UserIPs1h != uint32(n) || f.UserIPs24h != uint32(n) || f.UserDevices24h != uint32(min(n, 8)) ||
				f.UserCountries24h != uint32(min(n, 8)) {
				t.Fatalf("seed %d, before address %d: %+v", seed, n+1, f)
			}
		}
	}
}

// TestDistinctEstimatesHundreds: beyond the set, addresses estimate from their registers. At 100 the
// estimate's standard error is about 12%: over 50 address keys the mean error stays under 15% and none is off
// by half. From about 250 on they read "hundreds" (at most 266).
func TestDistinctEstimatesHundreds(t *testing.T) {
	const seeds = 50
	sum := 0.0
	for seed := range uint64(seeds) {
		m := NewMemory(0)
		var f Facts
		for n := range uint64(1001) {
			f = attempt(m, userAt(seed<<32|n, seed), t0+int64(n%60))
			if n == 100 {
				e := math.Abs(float64(f.IPUsers10m)-100) / 100
				sum += e
				if e > 0.5 || f.IPUsers24h != f.IPUsers10m {
					t.Errorf("seed %d: 100 users read %d (24 h: %d)", seed, f.IPUsers10m, f.IPUsers24h)
				}
			}
		}
		if f.IPUsers10m < 200 || f.IPUsers10m > 266 || f.IPUsers24h != f.IPUsers10m {
			t.Errorf("seed %d: 1000 users read %d (24 h: %d), want 200..266", seed, f.IPUsers10m, f.IPUsers24h)
		}
	}
	if mean := sum / seeds; mean > 0.15 {
		t.Errorf("mean error at 100 users: %.0f%%, want <= 15%%", mean*100)
	} else {
		t.Logf("mean error at 100 users over %d addresses: %.1f%%", seeds, mean*100)
	}
}

func TestDistinctWindows(t *testing.T) {
	m := NewMemory(0)
	attempt(m, userAt(1, 9), t0)
	attempt(m, userAt(2, 9), t0+30*60)
	for _, c := range []struct {
		at               int64
		ten, hour, day   uint32
		userIPs1h, ips24 uint32
	}{
		{t0 + 30*60, 1, 2, 2, 0, 0},
		{t0 + 30*60 + 9*60, 1, 2, 2, 0, 0}, // user 2, 9 minutes ago
		{t0 + 30*60 + 10*60, 0, 2, 2, 0, 0},
		{t0 + 60*60, 0, 1, 2, 0, 0},
		{t0 + 30*60 + 1439*60, 0, 0, 1, 0, 0},
		{t0 + 30*60 + 1440*60, 0, 0, 0, 0, 0},
		{t0 + 40*86400, 0, 0, 0, 0, 0}, // stamps wrap after 45 days: still nothing
	} {
		f := attempt(m, Subjects{IP: mix(9), HasIP: true}, c.at) // no user: reads only
		if f.IPUsers10m != c.ten || f.IPUsers1h != c.hour || f.IPUsers24h != c.day {
			t.Errorf("t0%+ds: %d, %d, %d users; want %d, %d, %d", c.at-t0, f.IPUsers10m, f.IPUsers1h, f.IPUsers24h, c.ten, c.hour, c.day)
		}
	}
	// A record idle longer than stamps can tell apart starts again.
	m2 := NewMemory(0)
	attempt(m2, userAt(1, 9), t0)
	if f := attempt(m2, userAt(2, 9), t0+46*86400); f.IPUsers24h != 0 {
		t.Errorf("after 46 idle days: %d users", f.IPUsers24h)
	}
	if f := attempt(m2, userAt(3, 9), t0+46*86400); f.IPUsers24h != 1 {
		t.Errorf("after 46 idle days and one user: %d users", f.IPUsers24h)
	}
}

func TestUserAmounts(t *testing.T) {
	m := NewMemory(0)
	buy := func(at int64, amount float64) Facts {
		s := Subjects{User: 1, HasUser: true, Amount: amount, HasAmount: amount != 0}
		return attempt(m, s, at)
	}
	if f := buy(t0, 100); f.UserAmount1h != 0 || f.UserAmount24h != 0 {
		t.Fatalf("first purchase reads %+v: the event itself is not included", f)
	}
	buy(t0+60, 250.5)
	buy(t0+120, 0) // a login: no amount
	if f := buy(t0+180, 0); f.UserAmount1h != 350.5 || f.UserAmount24h != 350.5 {
		t.Fatalf("after 100 + 250.5: %v, %v", f.UserAmount1h, f.UserAmount24h)
	}
	if f := buy(t0+7200, 0); f.UserAmount1h != 0 || f.UserAmount24h != 350.5 {
		t.Fatalf("two hours later: %v, %v", f.UserAmount1h, f.UserAmount24h)
	}
	if f := buy(t0+86400, 0); f.UserAmount24h != 0 {
		t.Fatalf("a day later: %v", f.UserAmount24h)
	}
}

func TestDeviceFacts(t *testing.T) {
	m := NewMemory(0)
	dev := func(user uint64, ua uint32, at int64) Facts {
		return attempt(m, Subjects{User: mix(user), HasUser: true, Device: 5, HasDevice: true, UA: ua}, at)
	}
	if f := dev(1, 77, t0); f.DeviceFirstSeen != 0 || f.DeviceUA != 0 {
		t.Fatalf("new device reads %+v", f)
	}
	if f := dev(2, 0, t0+3*86400); f.DeviceFirstSeen != t0 || f.DeviceUA != 77 || f.DeviceUsers24h != 0 {
		t.Fatalf("3 days later: %+v", f)
	}
	dev(2, 88, t0+3*86400+60)
	dev(1, 77, t0+3*86400-3600) // an older event does not say what the device uses now
	if f := dev(3, 0, t0+3*86400+120); f.DeviceUA != 88 || f.DeviceUsers24h != 2 {
		t.Fatalf("after a new user agent: %+v", f)
	}
}

// TestFactsConcurrent: goroutines adding the same few users and amounts at once lose nothing.
func TestFactsConcurrent(t *testing.T) {
	m := NewMemory(0)
	var wg sync.WaitGroup
	start := make(chan struct{})
	const goroutines, per = 16, 2000
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range per {
				s := userAt(1000, 100+uint64(i/2%8)) // one buyer, from 8 addresses
				if i%2 == 0 {
					s = userAt(uint64((g+i)%7), 3) // 7 users on one address
				}
				s.Amount, s.HasAmount = 1, true
				attempt(m, s, t0+int64(i%50))
			}
		})
	}
	close(start)
	wg.Wait()
	f := attempt(m, Subjects{User: mix(1000), HasUser: true, IP: mix(3), HasIP: true}, t0+59)
	if f.IPUsers10m != 7 || f.UserIPs1h != 8 {
		t.Errorf("read %d users on the address, %d addresses of the buyer; want 7 and 8", f.IPUsers10m, f.UserIPs1h)
	}
	if f.UserAmount1h != goroutines*per/2 {
		t.Errorf("buyer's amount %v, want %d", f.UserAmount1h, goroutines*per/2)
	}
}

// TestFactsSprayBounded: a million new addresses into a bounded table keep it at its bound, with flat memory,
// evicting the least recently active first.
func TestFactsSprayBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("sprays a million keys")
	}
	const maxKeys = 1 << 14
	m := NewMemory(maxKeys)
	const recent = maxKeys / 4
	for i := range uint64(recent) { // known addresses, active later than the spray's
		attempt(m, userAt(i, 1<<40|i), t0+3600)
	}
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var first uint64
	for i := range uint64(1 << 20) {
		attempt(m, userAt(i, i), t0+int64(i>>10))
		if i == 1<<17 {
			first = heap()
		}
	}
	if h := heap(); h > first+first/8 {
		t.Errorf("heap grew from %d to %d bytes under the spray", first, h)
	}
	for _, n := range []int{m.velocity[kindIP].Len(), m.velocity[kindUser].Len()} {
		if n != maxKeys {
			t.Errorf("table holds %d keys, want its bound %d", n, maxKeys)
		}
	}
	kept := 0
	for i := range uint64(recent) {
		if attempt(m, Subjects{IP: mix(1<<40 | i), HasIP: true}, t0+3600).IPUsers24h == 1 {
			kept++
		}
	}
	if kept < recent*95/100 {
		t.Errorf("kept %d/%d recently active addresses: the stale sprayed ones should go first", kept, recent)
	}
}

// TestSubjectBytesPerKey guards the budget of DESIGN.md: at most 256 bytes per key for a subject's counters,
// and as much again for its facts, now held in the same record.
func TestSubjectBytesPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a million keys")
	}
	for k := range numKinds {
		b, budget := subjectBytesPerKey(k, 1<<20, 1_000_000), 256.0
		if kinds[k].facts != noFacts {
			budget *= 2
		}
		if b > budget {
			t.Errorf("%s: %.1f bytes per key, want <= %.0f", kinds[k].name, b, budget)
		} else {
			t.Logf("%s: %.1f bytes per key", kinds[k].name, b)
		}
	}
}

// subjectBytesPerKey is the live heap per key of the table of kind k after adding keys subjects, with their
// facts, to one of maxKeys.
func subjectBytesPerKey(k kind, maxKeys, keys int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t := newSubjectTable(k, maxKeys)
	var counts [NumMetrics]Counts
	var f Facts
	for i := range uint64(keys) {
		t.observe(mix(i), Subjects{User: mix(i), HasUser: true}, t0+int64(i>>4), SetOf(Attempts), &counts, &f)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(t.Len())
}

// oldSnapshot is m as a snapshot of version 1 or 2 would hold it: the rings of each kind in a table of their
// own, then (version 2) the facts in theirs.
func oldSnapshot(t *testing.T, m *Memory, version int) []byte {
	var rings, facts [numKinds][][]byte
	for k := range numKinds {
		var buf bytes.Buffer
		if _, err := m.velocity[k].writeSnapshot(&buf); err != nil {
			t.Fatal(err)
		}
		size := 8 + ringBodyLen + factsLen(k)
		if _, err := readBlocks(&buf, size, "test", func(b []byte) {
			rings[k] = append(rings[k], append([]byte(nil), b[:8+ringBodyLen]...))
			facts[k] = append(facts[k], append(append([]byte(nil), b[:8]...), b[8+ringBodyLen:]...))
		}); err != nil {
			t.Fatal(err)
		}
	}
	out := append([]byte(nil), snapshotMagics[version-1]...)
	table := func(recs [][]byte) {
		for i, r := range recs {
			if i%snapshotBlock == 0 {
				out = binary.LittleEndian.AppendUint32(out, uint32(min(snapshotBlock, len(recs)-i)))
			}
			out = append(out, r...)
		}
		out = append(out, 0, 0, 0, 0)
	}
	for k := range numKinds {
		if kinds[k].sinceSnapshot <= version {
			table(rings[k])
		}
	}
	if version == 2 {
		for sec := range numFactsKinds {
			for k := range numKinds {
				if kinds[k].factsSection == sec {
					table(facts[k])
				}
			}
		}
	}
	return withCRC(out)
}

// factsLen is the length of the facts of kind k in a record's bytes.
func factsLen(k kind) int {
	switch kinds[k].facts {
	case userRecord:
		return len((&userFacts{}).appendBody(nil))
	case addrRecord:
		return len((&addrFacts{}).appendBody(nil))
	case deviceRecord:
		return len((&deviceFacts{}).appendBody(nil))
	}
	return 0
}

func TestFactsSnapshotRoundTrip(t *testing.T) {
	m := NewMemory(0)
	for i := range uint64(3000) {
		s := userAt(i%500, i%300)
		s.Device, s.HasDevice, s.UA = mix(i%200), true, uint32(i%3+1)
		s.Country, s.Amount, s.HasAmount = [2]byte{'S', 'E'}, float64(i), true
		s.ASN, s.HasASN = mix(i%7), true
		attempt(m, s, t0+int64(i))
	}
	e := &Embedded{Memory: NewMemory(0)}
	var buf bytes.Buffer
	buf.Write(snapshotMagic)
	for _, tb := range m.snapshotTables() {
		if _, err := tb.writeSnapshot(&buf); err != nil {
			t.Fatal(err)
		}
	}
	data := withCRC(buf.Bytes())
	if _, err := e.readSnapshot(data); err != nil {
		t.Fatal(err)
	}
	for i := range uint64(600) {
		s := userAt(i%500, i%300)
		s.Device, s.HasDevice = mix(i%200), true
		s.ASN, s.HasASN = mix(i%7), true
		var a, b Reading
		m.Observe(s, t0+3000, 0, &a)
		e.Observe(s, t0+3000, 0, &b)
		if a.Facts != b.Facts || a.User != b.User || a.ASN != b.ASN || a.Subnet != b.Subnet {
			t.Fatalf("subjects %d: restored %+v, want %+v", i, b, a)
		}
	}
	// A snapshot of version 2 (rings and facts in tables of their own) loads to the same state.
	e = &Embedded{Memory: NewMemory(0)}
	if _, err := e.readSnapshot(oldSnapshot(t, m, 2)); err != nil {
		t.Fatal(err)
	}
	for i := range uint64(600) {
		s := userAt(i%500, i%300)
		s.Device, s.HasDevice = mix(i%200), true
		s.ASN, s.HasASN = mix(i%7), true
		var a, b Reading
		m.Observe(s, t0+3000, 0, &a)
		e.Observe(s, t0+3000, 0, &b)
		if a != b {
			t.Fatalf("subjects %d: restored from version 2 %+v, want %+v", i, b, a)
		}
	}
	// A version 1 snapshot (the rings of users, IPs, devices only) still loads.
	e = &Embedded{Memory: NewMemory(0)}
	if n, err := e.readSnapshot(oldSnapshot(t, m, 1)); err != nil || n != m.velocity[kindUser].Len()+m.velocity[kindIP].Len()+m.velocity[kindDevice].Len() {
		t.Fatalf("v1 snapshot: %d keys, %v", n, err)
	}
	// Another version is refused, not misread.
	bad := append([]byte("RISKDVS9"), data[8:len(data)-4]...)
	if _, err := e.readSnapshot(withCRC(bad)); err == nil {
		t.Fatal("an unknown snapshot version was read")
	}
}

func withCRC(b []byte) []byte {
	out := append([]byte(nil), b...)
	return append(out, crcOf(out)...)
}

func crcOf(b []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}
