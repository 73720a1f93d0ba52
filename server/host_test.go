package server

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzIsLoopbackHost: any Host value is judged without a panic, and one accepted names this machine: localhost,
// [::1], or four dotted decimal octets starting 127, with an optional port.
func FuzzIsLoopbackHost(f *testing.F) {
	for _, h := range []string{"localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:80", "[::1]:8080", "[::1]",
		"127.0.0.256", "rebind.example", "127.0.0.1.rebind.example", "[::1].x", ":80", "[", "127..0.1", "0177.0.0.1"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if !isLoopbackHost([]byte(h)) {
			return
		}
		host := h
		if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
			host = h[:i]
		}
		switch {
		case strings.EqualFold(host, "localhost"), host == "[::1]":
		case strings.HasPrefix(host, "127.") && strings.Count(host, ".") == 3 && strings.Trim(host, "0123456789.") == "":
		default:
			t.Fatalf("%q accepted as loopback", h)
		}
	})
}

// FuzzSplitPath: any path is split without a panic, and only its literal slashes separate segments: an escaped
// "/" stays inside its segment, and no accepted segment is a dot segment as sent.
func FuzzSplitPath(f *testing.F) {
	for _, p := range []string{"/v1/users/x%2F..%2F..%2Frules%2Fshadow", "/v1/users/a/../b", "/v1/lists/%2e%2e", "/v1//x",
		`/v1\users`, "/%zz", "/", "", "v1/users"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		segs, ae := splitPath([]byte(p))
		if ae != nil {
			return
		}
		if want := strings.Count(p, "/"); len(segs) != want {
			t.Fatalf("%q: %d segments, want %d (one per literal slash)", p, len(segs), want)
		}
		for _, raw := range bytes.Split([]byte(p)[1:], []byte("/")) {
			if string(raw) == "." || string(raw) == ".." {
				t.Fatalf("%q: dot segment accepted", p)
			}
		}
	})
}
