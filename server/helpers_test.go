package server

import (
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine/enginetest"
)

// newTestServer returns a Server over the built-in rules and MaxMind's test databases, not listening:
// in-package tests call its handler directly.
func newTestServer(tb testing.TB) *Server { return newTestServerWith(tb, nil) }

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
