package jsonenc

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/riskd/riskd/features"
)

// FuzzAppendString checks that appendString always writes valid JSON that reads back as the input (invalid
// UTF-8 aside, which becomes U+FFFD).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "\x00\x1f\n\t", "\u2028\u2029", "\xff\xfe", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("AppendString(%q) = %s: not JSON: %v", s, b, err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	})
}

func TestAppendVectorIsValidJSON(t *testing.T) {
	v := features.Vector{Event: "login", Country: "SE", City: "Link\u00f6ping \"x\"", ASN: 29518, TravelKmh: math.Inf(1), Lat: 58.4}
	var m map[string]any
	if err := json.Unmarshal(NewVectorEncoder().Append(nil, &v), &m); err != nil {
		t.Fatal(err)
	}
	if m["country"] != "SE" || m["asn"] != 29518.0 || m["travel_kmh"] != 0.0 || m["city"] != v.City || len(m) != len(features.Fields()) {
		t.Fatalf("%v", m)
	}
}

// TestVectorEncoderCoversEveryKind fails when Vector gains a field of a kind the encoder cannot write.
func TestVectorEncoderCoversEveryKind(t *testing.T) {
	for _, f := range NewVectorEncoder().fields {
		switch f.kind {
		case reflect.Bool, reflect.Int, reflect.Float64, reflect.String:
		default:
			t.Errorf("field %s has kind %v, which the encoder does not write", f.key, f.kind)
		}
	}
}

func BenchmarkVectorEncoder(b *testing.B) {
	e := NewVectorEncoder()
	v := features.Vector{Event: "login", Country: "SE", City: "Stockholm", ASN: 29518, Lat: 59.3, Lon: 18.1, NewDevice: true}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.Append(buf[:0], &v)
	}
}
