package server

import (
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine/enginetest"
)

// newTestServer returns a Server over the built-in rules and MaxMind's test databases, not listening:
// in-package tests call its handler directly.
func newTestServer(tb testing.TB) *Server {
	tb.Helper()
	reg := metrics.NewSet()
	s, err := New(Config{Engine: enginetest.New(tb, reg), Metrics: reg})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
