package store

import (
	"errors"
	"math/rand/v2"
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
				HasLocation: r.IntN(2) == 0, Country: [2]byte{'A' + byte(r.IntN(12)), 'Z'}, CityID: r.Uint32(), ASN: r.Uint32()}}
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
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Profile
		if err := DecodeProfile(b, &p); err != nil {
			return
		}
		if p.NumDevices > MaxDevices || p.NumCountries > MaxCountries {
			t.Fatalf("decoded an out-of-bounds profile: %d devices, %d countries", p.NumDevices, p.NumCountries)
		}
		// What decodes re-encodes to something that decodes to the same profile.
		var q Profile
		if err := DecodeProfile(AppendProfile(nil, &p), &q); err != nil || q != p {
			t.Fatalf("re-encoding: %v", err)
		}
	})
}
