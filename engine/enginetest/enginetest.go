// Package enginetest builds engines for tests: the built-in rules over MaxMind's test GeoIP databases and
// fresh in-memory state, the way riskd serves them.
package enginetest

import (
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules"
)

// New returns an engine over the built-in rules and the test databases, registering its metrics in reg when
// reg is not nil; configure may change the config before the engine is built. It skips (fails under CI=true) when the shared test data is missing.
func New(tb testing.TB, reg *metrics.Set, configure ...func(*engine.Config)) *engine.Engine {
	tb.Helper()
	city, asn, anon := testenv.GeoIP(tb)
	db, err := geo.Open(geo.Config{CityPath: city, ASNPath: asn, AnonymousPath: anon})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	set, err := rules.Default()
	if err != nil {
		tb.Fatal(err)
	}
	cfg := engine.Config{
		Extractor: features.NewExtractor(features.NewHasher([]byte("test")), features.NewState(0), db),
		Rules:     set,
	}
	if reg != nil {
		cfg.Metrics = engine.NewMetrics(reg)
	}
	for _, c := range configure {
		c(&cfg)
	}
	e, err := engine.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}
