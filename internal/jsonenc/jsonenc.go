// Package jsonenc appends JSON by hand, for the places that write it on hot or high-volume paths (responses,
// the decision log) without encoding/json's reflection and allocations.
package jsonenc

import (
	"encoding/binary"
	"math"
	"math/bits"
	"reflect"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/riskd/riskd/features"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD so the output is always valid JSON.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while none needs a second look: responses and log lines are mostly plain
		// ASCII, and a byte-at-a-time scan was the largest single cost of encoding a decision.
		for i+8 <= len(s) && plain8(load8(s, i)) {
			i += 8
		}
		if i+8 > len(s) && len(s) >= 8 && plain8(load8(s, len(s)-8)) {
			i = len(s) // the tail, in a word that overlaps bytes already looked at
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript embedders; escape them as encoding/json does.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Word-at-a-time byte tests (the classic "has a byte less than n" and "has a zero byte" bit tricks): each reports
// whether any of the eight bytes of x qualifies, exactly, though not which.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// load8 reads the eight bytes of s from i on, little-endian; the compiler turns it into one load.
func load8(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// below marks (in its byte's high bit) a byte of x less than n, for n <= 0x80; has marks a byte equal to c. The
// marks are exact as to whether any byte qualifies: test them against highs.
func below(x uint64, n byte) uint64 { return (x - ones*uint64(n)) &^ x }

func has(x uint64, c byte) uint64 {
	y := x ^ (ones * uint64(c))
	return (y - ones) &^ y
}

// plain8 reports whether all eight bytes of x are ASCII from 0x20 up other than '"' and '\\': bytes AppendString
// copies as they are.
func plain8(x uint64) bool {
	return (x|below(x, 0x20)|has(x, '"')|has(x, '\\'))&highs == 0 // x's own high bits: non-ASCII
}

// PrintableASCII reports whether every byte of b is from 0x20 to 0x7e: valid UTF-8 without control characters,
// so a decoder need not look at it byte by byte. Eight bytes at a time.
func PrintableASCII(b []byte) bool {
	var special uint64
	for ; len(b) >= 8; b = b[8:] {
		x := binary.LittleEndian.Uint64(b)
		special |= x | below(x, 0x20) | has(x, 0x7f)
	}
	if special&highs != 0 {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// StringRun returns how many bytes at the start of b are printable ASCII other than '"' and '\\': the bytes a JSON
// string holds as they are and a decoder need not look at again. Eight bytes at a time, with StringEnds.
func StringRun(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := StringEnds(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + FirstMarked(m)
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			break
		}
	}
	return i
}

// StringEnds marks, in its byte's high bit, each of the eight bytes of x (little-endian) that ends a StringRun:
// below 0x20, '"', '\\', or from 0x7f up (x+ones carries 0x7f, alone of the bytes below 0x80, into its high bit).
// Of the marks, the lowest is always a true one (a false mark comes only from a borrow or carry out of a true
// one below it), so FirstMarked finds the first such byte exactly. Small enough to be inlined in a loop.
func StringEnds(x uint64) uint64 {
	return (x | (x + ones) | below(x, 0x20) | has(x, '"') | has(x, '\\')) & highs
}

// FirstMarked returns the index of the lowest byte marked in m, which must not be 0.
func FirstMarked(m uint64) int { return bits.TrailingZeros64(m) / 8 }

// AppendHex64 appends v as 16 lowercase hex digits. Every decision's evaluation id is written with it (and
// again in the decision log), so the digits are made eight at a time in a word, not looked up one by one.
func AppendHex64(b []byte, v uint64) []byte {
	var digits [16]byte
	binary.BigEndian.PutUint64(digits[:8], hex8(uint32(v>>32)))
	binary.BigEndian.PutUint64(digits[8:], hex8(uint32(v)))
	return append(b, digits[:]...)
}

// hex8 returns the eight hex digits of n as the bytes of a word, the most significant digit in its top byte.
func hex8(n uint32) uint64 {
	x := uint64(n)
	// Spread the nibbles to one a byte, nibble k in byte k.
	x = (x | x<<16) & 0x0000ffff0000ffff
	x = (x | x<<8) & 0x00ff00ff00ff00ff
	x = (x | x<<4) & 0x0f0f0f0f0f0f0f0f
	// A nibble from 10 up carries into its byte's bit 4 when 6 is added: those bytes take 'a'-10, the others '0'.
	letters := (x + 0x0606060606060606) >> 4 & ones
	return x + 0x3030303030303030 + letters*('a'-'0'-10)
}

// AppendFloat appends f as a JSON number; NaN and infinities, which JSON cannot hold, become 0.
func AppendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// VectorEncoder writes a features.Vector as a JSON object keyed by the names rules use, in declaration order.
// The field layout is worked out once, by reflection, in NewVectorEncoder; Append then reads each field at its
// offset, so encoding a vector neither reflects nor allocates. That matters for the decision log, which
// encodes every decision. A VectorEncoder is immutable and safe for concurrent use.
type VectorEncoder struct {
	fields []vectorField
}

type vectorField struct {
	key    []byte // `"name":`
	kind   reflect.Kind
	offset uintptr
}

// NewVectorEncoder returns an encoder for features.Vector.
func NewVectorEncoder() *VectorEncoder {
	t := reflect.TypeFor[features.Vector]()
	e := &VectorEncoder{}
	for _, f := range features.Fields() {
		sf := t.Field(f.Index)
		key := AppendString(nil, f.Name)
		e.fields = append(e.fields, vectorField{key: append(key, ':'), kind: sf.Type.Kind(), offset: sf.Offset})
	}
	return e
}

// Append appends v as a JSON object.
func (e *VectorEncoder) Append(b []byte, v *features.Vector) []byte {
	base := unsafe.Pointer(v)
	b = append(b, '{')
	for i := range e.fields {
		f := &e.fields[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.key...)
		p := unsafe.Add(base, f.offset)
		switch f.kind {
		case reflect.Bool:
			b = strconv.AppendBool(b, *(*bool)(p))
		case reflect.Int:
			b = strconv.AppendInt(b, int64(*(*int)(p)), 10)
		case reflect.Float64:
			b = AppendFloat(b, *(*float64)(p))
		case reflect.String:
			b = AppendString(b, *(*string)(p))
		}
	}
	return append(b, '}')
}
