package useragent

import (
	"strings"
	"testing"
)

// FuzzLookup: any user agent parses without panicking, twice to the same answer, into a known device class,
// and a bot on first sight stays one.
func FuzzLookup(f *testing.F) {
	for _, ua := range botAgents {
		f.Add(ua)
	}
	for _, tc := range humanAgents {
		f.Add(tc.ua)
	}
	f.Add("")
	f.Add("\xff\xfe(" + strings.Repeat("Mozilla/5.0 ", 100))
	p := New(64)
	p.uap = parser().uap
	p.once.Do(func() {})
	f.Fuzz(func(t *testing.T, ua string) {
		got := *p.Lookup(ua)
		if again := *p.Lookup(ua); again != got {
			t.Fatalf("%q: %+v then %+v", ua, got, again)
		}
		switch got.DeviceClass {
		case Desktop, Mobile, Tablet, Bot, Unknown:
		case "":
			if ua != "" {
				t.Fatalf("%q: no device class", ua)
			}
		default:
			t.Fatalf("%q: device class %q", ua, got.DeviceClass)
		}
		if got.IsBot != (got.DeviceClass == Bot) {
			t.Fatalf("%q: %+v", ua, got)
		}
		// The full answer keeps the first-sight verdict: a bot never turns into a person once parsed.
		if ua != "" && obviousBot(ua[:min(len(ua), MaxLen)]) && !got.IsBot {
			t.Fatalf("%q: a bot on first sight, not once parsed: %+v", ua, got)
		}
	})
}
