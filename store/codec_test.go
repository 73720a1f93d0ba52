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
		Devices: p.Devices, Countries: p.Countries, Last: p.Last})) - 6 // where the history starts: an empty one is 4 counts and 2 masks
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
			b[len(b)-4*3-1-6*3-1] = 1 << HourBins
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
