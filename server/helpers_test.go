package server

import (
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/internal/testdata"
	"github.com/riskd/riskd/rules"
)

// newTestServer returns a Server over the built-in rules and MaxMind's test databases, not listening:
// in-package tests call its handler directly.
func newTestServer(tb testing.TB) *Server {
	tb.Helper()
	city, asn, anon := testdata.GeoIP(tb)
	db, err := geo.Open(geo.Config{CityPath: city, ASNPath: asn, AnonymousPath: anon})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	set, err := rules.Default()
	if err != nil {
		tb.Fatal(err)
	}
	x := features.NewExtractor(features.NewHasher([]byte("test")), features.NewState(0), db)
	reg := metrics.NewSet()
	eng, err := engine.New(engine.Config{Extractor: x, Rules: set, Metrics: engine.NewMetrics(reg)})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Config{Engine: eng, Metrics: reg})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
