package server

import (
	"testing"
	"time"
)

func TestParseRequestStart(t *testing.T) {
	const sec = int64(1_763_776_496)
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"t=1763776496.123", sec*1e9 + 123e6, true},
		{"1763776496.123456", sec*1e9 + 123456e3, true},
		{"t=1763776496", sec * 1e9, true},
		{"1763776496123", sec*1e9 + 123e6, true},
		{"1763776496123456", sec*1e9 + 123456e3, true},
		{"t=1763776496123456789", sec*1e9 + 123456789, true},
		{"1763776496.1234567891", sec*1e9 + 123456789, true},
		{"", 0, false},
		{"t=", 0, false},
		{"t=abc", 0, false},
		{"1763776496.1.2", 0, false},
		{"-1763776496", 0, false},
		{"17637764961234567890", 0, false},
		{"9999999999999999999", 0, false},
		{"9223372036854775807", 9223372036854775807, true},
		{"99999999999.5", 0, false},
		{"9227000000", 9227000000000000, true},
	} {
		got, ok := parseRequestStart([]byte(c.in))
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseRequestStart(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func FuzzParseRequestStart(f *testing.F) {
	for _, s := range []string{"t=1763776496.123", "1763776496123456", "t=", ".", "1."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, ok := parseRequestStart([]byte(s))
		if ok && ns < 0 {
			t.Fatalf("%q: negative time %d", s, ns)
		}
		if ok && time.Unix(0, ns).Year() > 5200 {
			t.Fatalf("%q: %v", s, time.Unix(0, ns))
		}
	})
}
