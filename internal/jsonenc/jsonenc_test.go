package jsonenc

import (
	"encoding/json"
	"fmt"
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
		if want := appendStringBytewise(nil, s); string(b) != string(want) {
			t.Fatalf("AppendString(%q) = %s, the byte-at-a-time encoding is %s", s, b, want)
		}
	})
}

// TestAppendStringWordScan puts every byte value at every position of a word, and around the word boundaries, so
// a byte the eight-at-a-time scan lets through without escaping shows up as a difference from the reference.
func TestAppendStringWordScan(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 19; pos++ {
			buf := []byte("abcdefghijklmnopqrs")
			buf[pos] = byte(c)
			s := string(buf)
			if got, want := AppendString(nil, s), appendStringBytewise(nil, s); string(got) != string(want) {
				t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
			}
		}
	}
}

// appendStringBytewise is the encoding AppendString promises, written the plainest way, rune by rune: the
// reference it must agree with. Each byte that is not UTF-8 becomes \ufffd; quote and backslash are escaped,
// newline, return and tab by their short escapes, other controls and U+2028/U+2029 as \u00XX and \u202X.
func appendStringBytewise(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r < 0x20 || r == '\u2028' || r == '\u2029':
			b = fmt.Appendf(b, `\u%04x`, r)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

// TestPrintableASCIIWordScan puts every byte value at every position of a word and around the word boundaries:
// the eight-at-a-time test must agree with a byte-by-byte one, or a decoder would let a control character or
// invalid UTF-8 through unexamined.
func TestPrintableASCIIWordScan(t *testing.T) {
	bytewise := func(b []byte) bool {
		for _, c := range b {
			if c < 0x20 || c >= 0x7f {
				return false
			}
		}
		return true
	}
	for n := 0; n <= 19; n++ {
		for c := 0; c < 256; c++ {
			for pos := 0; pos < n; pos++ {
				b := []byte("abcdefghijklmnopqrs"[:n])
				b[pos] = byte(c)
				if got, want := PrintableASCII(b), bytewise(b); got != want {
					t.Fatalf("PrintableASCII(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

// TestStringRunWordScan puts every byte value at every position of a word and around the word boundaries, with
// a second stopping byte after it (the borrow of one mark can set false marks above it): the run must end
// exactly where a byte-by-byte scan ends it, or a decoder would take a quote or a control character as string
// content, or cut a string short.
func TestStringRunWordScan(t *testing.T) {
	bytewise := func(b []byte) int {
		for i, c := range b {
			if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				return i
			}
		}
		return len(b)
	}
	seconds := []byte{0x00, 0x01, 0x1f, 0x20, '"', '#', '\\', ']', 0x7e, 0x7f, 0x80, 0xff}
	for n := 0; n <= 19; n++ {
		for c := 0; c < 256; c++ {
			for pos := 0; pos < n; pos++ {
				for pos2 := pos; pos2 < n; pos2++ {
					for _, c2 := range seconds {
						b := []byte("abcdefghijklmnopqrs"[:n])
						b[pos2] = c2
						b[pos] = byte(c)
						if got, want := StringRun(b), bytewise(b); got != want {
							t.Fatalf("StringRun(%q) = %d, want %d", b, got, want)
						}
					}
				}
			}
		}
	}
}

func BenchmarkAppendString(b *testing.B) {
	s := "221 different accounts tried from this address in the last ten minutes."
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = AppendString(buf[:0], s)
	}
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

func TestAppendHex64(t *testing.T) {
	values := []uint64{0, 1, 0xf, 0x324c24ab88359dc2, math.MaxUint64, 0x0123456789abcdef, 0xfedcba9876543210}
	for d := range uint64(16) { // every digit at every position
		for pos := range 16 {
			values = append(values, d<<(4*pos), d<<(4*pos)|0x9999999999999999&^(0xf<<(4*pos)))
		}
	}
	for i := range uint64(100000) {
		values = append(values, i*0x9E3779B97F4A7C15)
	}
	for _, v := range values {
		if got, want := string(AppendHex64([]byte("id="), v)), fmt.Sprintf("id=%016x", v); got != want {
			t.Fatalf("AppendHex64(%#x) = %s, want %s", v, got, want)
		}
	}
}
