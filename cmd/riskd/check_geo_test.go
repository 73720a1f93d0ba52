package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules"
)

// TestCheckBuiltinRulesWithoutGeoIP: docs/RULES.md shows `riskd check rules/default.yaml` with no GeoIP
// databases. The built-in set's tests declare the geography of their addresses, so they pass without any.
func TestCheckBuiltinRulesWithoutGeoIP(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"check", "../../rules/default.yaml"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), " passed, 0 failed") {
		t.Fatalf("check default.yaml without GeoIP: exit %d:\n%s%s", code, out.String(), errb.String())
	}
}

// TestBuiltinCopyServesWithOtherGeoIP: a copy of the built-in set given as --rules is tested against the
// serving GeoIP databases before it serves. Databases that place the tests' addresses elsewhere than
// MaxMind's test files (here a country-only file: no cities, no coordinates, no networks) must not keep it
// from starting.
func TestBuiltinCopyServesWithOtherGeoIP(t *testing.T) {
	copyPath := filepath.Join(t.TempDir(), "rules.yaml")
	data, err := os.ReadFile("../../rules/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]geo.Config{
		"none":         {},
		"country only": {CityPath: testenv.Shared(t, "geoip/GeoIP2-Country-Test.mmdb")},
		"lite city":    {CityPath: testenv.Shared(t, "geoip/GeoLite2-City-Test.mmdb")},
	} {
		db, err := geo.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := testRules(set, db); err != nil {
			t.Errorf("%s: the copy would not serve: %v", name, err)
		}
		db.Close()
	}
}
