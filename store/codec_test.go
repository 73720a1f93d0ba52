package store

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// randomProfile builds a profile through the same operations riskd applies, so that it is a reachable one.
func randomProfile(r *rand.Rand) Profile {
	var p Profile
	at := int64(1_700_000_000)
	for range r.IntN(40) {
		at += r.Int64N(86400)
		op := ProfileOp{Kind: OpLogin, At: at, HasDevice: r.IntN(4) != 0, Device: r.Uint64N(12),
			Place: Place{Lat: r.Float32()*180 - 90, Lon: r.Float32()*360 - 180, RadiusKm: uint16(r.IntN(1000)),
				HasLocation: r.IntN(2) == 0, Country: [2]byte{'A' + byte(r.IntN(12)), 'Z'}, CityID: r.Uint32N(12), ASN: r.Uint32()},
			// Few distinct values, so that lists fill, entries repeat and replacement runs; 0 is unknown.
			Network: r.Uint32N(10), Agent: r.Uint32N(9) * 0x9e3779b9, Class: uint8(r.IntN(DeviceClasses + 1))}
		if r.IntN(30) == 0 {
			at += 40 * 86400 // long gaps age habits, so that the least valuable is not always the least counted
		}
		switch r.IntN(10) {
		case 0:
			op.Kind = OpTrust
			op.TrustedBy = r.Uint32N(3) // every tenant, or one of two
		case 1:
			op.Kind = OpForgetDevice
		case 2:
			op = ProfileOp{Kind: OpSetMFA, MFA: uint8(1 + r.IntN(3)), At: at}
		}
		p.Apply(&op)
	}
	return p
}

func TestProfileCodecRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var buf []byte
	for range 2000 {
		p := randomProfile(r)
		buf = AppendProfile(buf[:0], &p)
		var q Profile
		if err := DecodeProfile(buf, &q); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if q != p {
			t.Fatalf("round trip:\n got %+v\nwant %+v", q, p)
		}
		// Every strict prefix is refused, never half-read.
		for n := range len(buf) {
			if err := DecodeProfile(buf[:n], &q); !errors.Is(err, ErrCorrupt) || q != (Profile{}) {
				t.Fatalf("prefix of %d/%d bytes: %v", n, len(buf), err)
			}
		}
	}
}

func FuzzDecodeProfile(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		p := randomProfile(r)
		f.Add(AppendProfile(nil, &p))
	}
	f.Add([]byte{profileFormat, 0, 0, 0, 9})
	// The format riskd wrote before the history, and a profile that uses every part of the current one.
	for _, c := range readV1Profiles(f) {
		f.Add(c.encoded)
	}
	full := fullProfile()
	f.Add(AppendProfile(nil, &full))
	if v2, err := hex.DecodeString(profileV2); err == nil {
		f.Add(v2)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Profile
		if err := DecodeProfile(b, &p); err != nil {
			return
		}
		if p.NumDevices > MaxDevices || p.NumCountries > MaxCountries {
			t.Fatalf("decoded an out-of-bounds profile: %d devices, %d countries", p.NumDevices, p.NumCountries)
		}
		for k := range NumHabitKinds {
			if p.History.NumHabits[k] > MaxHabits {
				t.Fatalf("decoded an out-of-bounds history: %d habits of kind %d", p.History.NumHabits[k], k)
			}
			for _, e := range p.History.List(k) {
				if e.Key == 0 || e.Logins == 0 {
					t.Fatalf("decoded an unreachable habit %+v", e)
				}
			}
		}
		// What decodes re-encodes to something that decodes to the same profile.
		var q Profile
		if err := DecodeProfile(AppendProfile(nil, &p), &q); err != nil || q != p {
			t.Fatalf("re-encoding: %v", err)
		}
	})
}

// v1Profile is one line of testdata/profiles-v1.txt: an encoding by format 1 and the profile it holds.
type v1Profile struct {
	encoded []byte
	want    Profile
}

// readV1Profiles reads encodings written by riskd before format 2, kept as they were written. JSON carries the
// profiles' fields by name, so that the file says what each encoding holds whatever Profile grows.
func readV1Profiles(tb testing.TB) []v1Profile {
	tb.Helper()
	f, err := os.Open("testdata/profiles-v1.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []v1Profile
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		hexed, js, ok := strings.Cut(line, "\t")
		if !ok {
			tb.Fatalf("line without a tab: %q", line)
		}
		var c v1Profile
		if c.encoded, err = hex.DecodeString(hexed); err != nil {
			tb.Fatal(err)
		}
		if err := json.Unmarshal([]byte(js), &c.want); err != nil {
			tb.Fatal(err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) == 0 {
		tb.Fatal("no profiles in testdata/profiles-v1.txt")
	}
	return out
}

// TestDecodesFormat1: profiles on disk and in Redis from before the history keep decoding, to the same devices,
// countries and last login, with an empty history; written back, they take the current format.
func TestDecodesFormat1(t *testing.T) {
	for i, c := range readV1Profiles(t) {
		if c.encoded[0] != profileFormatV1 {
			t.Fatalf("case %d is format %d", i, c.encoded[0])
		}
		var p Profile
		if err := DecodeProfile(c.encoded, &p); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if p != c.want || !p.History.Empty() {
			t.Fatalf("case %d:\n got %+v\nwant %+v", i, p, c.want)
		}
		re := AppendProfile(nil, &p)
		var q Profile
		if re[0] != profileFormat || DecodeProfile(re, &q) != nil || q != p {
			t.Fatalf("case %d does not re-encode in the current format", i)
		}
		// Learning on top of an old profile keeps the old facts and starts the history.
		q.Apply(&ProfileOp{Kind: OpLogin, At: max(q.Last.At, 1_700_000_000) + 60, Network: 7, Agent: 8, Class: 1})
		if q.Logins != p.Logins+1 || q.NumDevices != p.NumDevices || q.History.Logins() != 1 {
			t.Fatalf("case %d after a login: %+v", i, q)
		}
	}
}

// fullProfile has every list of the profile full and every bin in use.
func fullProfile() Profile {
	var p Profile
	at := int64(1_700_000_000)
	for i := range 40 {
		at += 3 * 3600
		p.Apply(&ProfileOp{Kind: OpTrust, At: at, HasDevice: true, Device: uint64(i), Network: uint32(i + 1), Agent: uint32(i%7 + 1),
			Class: uint8(i%DeviceClasses + 1), Place: Place{Country: [2]byte{'A' + byte(i%10), 'A'}, CityID: uint32(i + 100), ASN: uint32(i + 1000),
				HasLocation: true, Lat: 1, Lon: 2, RadiusKm: 5}})
	}
	return p
}

func TestHistoryCodecStrict(t *testing.T) {
	p := fullProfile()
	for k := range NumHabitKinds {
		if p.History.NumHabits[k] != MaxHabits {
			t.Fatalf("kind %d not full: %d", k, p.History.NumHabits[k])
		}
	}
	good := AppendProfile(nil, &p)
	var q Profile
	if err := DecodeProfile(good, &q); err != nil || q != p {
		t.Fatalf("full profile: %v", err)
	}
	hist := len(AppendProfile(nil, &Profile{Created: p.Created, Logins: p.Logins, NumDevices: p.NumDevices, NumCountries: p.NumCountries,
		Devices: p.Devices, Countries: p.Countries, Last: p.Last})) - 6 - 2 // where the history starts: an empty one is 4 counts and 2 masks, then an empty spend and sequences
	if good[hist] != MaxHabits {
		t.Fatalf("history offset %d holds %d", hist, good[hist])
	}
	damage := map[string]func(b []byte){
		"too many habits":  func(b []byte) { b[hist] = MaxHabits + 1 },
		"habit with key 0": func(b []byte) { b[hist+1] = 0 },
		"trailing byte":    nil,
		"unknown format":   func(b []byte) { b[0] = profileFormat + 1 },
		"hour bin out of range": func(b []byte) {
			// Found from the end: each bin in use takes 3 bytes, then come the class mask and the hour bins.
			b[len(b)-2-4*3-1-6*3-1] = 1 << HourBins
		},
	}
	for name, f := range damage {
		b := append([]byte(nil), good...)
		if f == nil {
			b = append(b, 0)
		} else {
			f(b)
		}
		if err := DecodeProfile(b, &q); !errors.Is(err, ErrCorrupt) || q != (Profile{}) {
			t.Errorf("%s: decoded (%v)", name, err)
		}
	}
}

// profileV2 is fullProfile as the format-2 encoder wrote it, before devices held whom their trust is for.
const profileV2 = "02e0eca0d50c2800082000000000000000e084cbd50c00e084cbd50c2100000000000000c0adccd50c00c0adccd50c2200000000000000a0d6cdd50c00a0d6cdd50c230000000000000080ffced50c0080ffced50c2400000000000000e0a7d0d50c00e0a7d0d50c2500000000000000c0d0d1d50c00c0d0d1d50c2600000000000000a0f9d2d50c00a0f9d2d50c270000000000000080a2d4d50c0080a2d4d50c084341e084cbd50c014441c0adccd50c014541a0d6cdd50c01464180ffced50c014741e0a7d0d50c014841c0d0d1d50c014941a0f9d2d50c014a4180a2d4d50c0180a2d4d50c014a410000803f00000040058b018f08062801e04c2201e04c2301e04c2401e04c2501e04c2601e04c068f0801e04c890801e04c8a0801e04c8b0801e04c8c0801e04c8d0801e04c068b0101e04c850101e04c860101e04c870101e04c880101e04c890101e04c060101e04c0206e04c0306e04c0406e04c0506e04c0605e04c3f05e04c0ae04c05e04c05e04c0ae04c05e04c0f0ae04c0ae04c0ae04c0ae04c"

// TestDecodesFormat2: a device trusted before trust was marked with its tenant stays trusted for every tenant.
func TestDecodesFormat2(t *testing.T) {
	raw, err := hex.DecodeString(profileV2)
	if err != nil || raw[0] != profileFormatV2 {
		t.Fatalf("golden profile: %v, format %d", err, raw[0])
	}
	var p Profile
	if err := DecodeProfile(raw, &p); err != nil {
		t.Fatal(err)
	}
	if want := fullProfile(); p != want {
		t.Fatalf("format 2:\n got %+v\nwant %+v", p, want)
	}
	for _, d := range p.Devices[:p.NumDevices] {
		if d.TrustedAt == 0 || d.TrustedBy != 0 {
			t.Fatalf("device %+v: want trusted for every tenant", d)
		}
	}
}

// TestTrustForOneTenant: trust reported for one tenant never narrows trust for all; trust for all widens it; another
// tenant's later trust replaces it.
func TestTrustForOneTenant(t *testing.T) {
	var p Profile
	p.TrustDevice(1, 100, 7)
	if d := p.Devices[0]; d.TrustedAt != 100 || d.TrustedBy != 7 {
		t.Fatalf("trusted by tenant 7: %+v", d)
	}
	p.TrustDevice(1, 90, 7)
	p.TrustDevice(1, 80, 9) // older than tenant 7's: ignored
	if d := p.Devices[0]; d.TrustedAt != 90 || d.TrustedBy != 7 {
		t.Fatalf("again by tenant 7, earlier; then an older trust by 9: %+v", d)
	}
	p.TrustDevice(1, 120, 9)
	if d := p.Devices[0]; d.TrustedAt != 120 || d.TrustedBy != 9 {
		t.Fatalf("later by tenant 9: %+v", d)
	}
	p.TrustDevice(1, 130, 0)
	p.TrustDevice(1, 140, 7)
	if d := p.Devices[0]; d.TrustedAt != 130 || d.TrustedBy != 0 {
		t.Fatalf("trusted for every tenant, then by tenant 7: %+v", d)
	}
	raw := AppendProfile(nil, &p)
	var q Profile
	if err := DecodeProfile(raw, &q); err != nil || q != p {
		t.Fatalf("round trip: %v %+v", err, q)
	}
}
