package server

import "testing"

// TestPrintableASCIIWordScan puts every byte value at every position of a word and around the word boundaries:
// the eight-at-a-time test must agree with a byte-by-byte one, or fieldString would let a control character or
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
				if got, want := printableASCII(b), bytewise(b); got != want {
					t.Fatalf("printableASCII(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}
