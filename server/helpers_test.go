package server

import (
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine/enginetest"
)

// newTestServer returns a Server over the built-in rules and MaxMind's test databases, not listening:
// in-package tests call its handler directly.
func newTestServer(tb testing.TB) *Server { return newTestServerWith(tb, nil) }

// withDecideKey gives s one API key, "rk_idp", with the decide scope, and returns s: the queue controller learns
// only from authenticated callers' stamps.
func withDecideKey(tb testing.TB, s *Server) *Server {
	tb.Helper()
	kr, err := ParseKeyring([]byte("keys:\n  - {name: idp, sha256: " + HashSecret("rk_idp") + ", scopes: [decide]}\n"))
	if err != nil {
		tb.Fatal(err)
	}
	s.keys.Store(kr)
	return s
}

// newTestServerWith is newTestServer with the configuration changed by edit (nil: none) before New.
func newTestServerWith(tb testing.TB, edit func(*Config)) *Server {
	tb.Helper()
	reg := metrics.NewSet()
	cfg := Config{Engine: enginetest.New(tb, reg), Metrics: reg}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
