package ruletest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/ruletest"
)

// testGeo opens MaxMind's test databases, which the cases' addresses are chosen from.
func testGeo(t *testing.T) *geo.DB {
	t.Helper()
	city, asn, anon := testenv.GeoIP(t)
	db, err := geo.Open(geo.Config{CityPath: city, ASNPath: asn, AnonymousPath: anon})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func report(r *ruletest.Report) string {
	var b strings.Builder
	r.WriteText(&b)
	return b.String()
}

// TestBuiltinRules runs the tests of the built-in rule set (rules/default.yaml): the acceptance
// scenarios, which `riskd check rules/default.yaml` also runs.
func TestBuiltinRules(t *testing.T) {
	set, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Tests) < 6 {
		t.Fatalf("the built-in set has %d tests, want its acceptance scenarios", len(set.Tests))
	}
	rep := ruletest.Run(set, ruletest.Options{Geo: testGeo(t)})
	if !rep.OK() || rep.Passed != len(set.Tests) {
		t.Fatalf("built-in rule tests:\n%s", report(rep))
	}
	t.Logf("\n%s", report(rep))
}

// TestGoldenCases runs every folder of testdata/rules as one rule set: its *.yaml files are merged as
// `riskd serve --rules DIR` merges them, and its tests must pass. A folder with a compile_error.txt must
// instead fail to compile, with every line of that file in the error; a warnings.txt lists warnings the set
// must compile with. Analysts add cases without writing Go.
func TestGoldenCases(t *testing.T) {
	db := testGeo(t)
	root := filepath.Join("..", "testdata", "rules")
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		n++
		dir := filepath.Join(root, d.Name())
		t.Run(d.Name(), func(t *testing.T) {
			set, err := rules.Load(dir)
			if want := lines(t, filepath.Join(dir, "compile_error.txt")); want != nil {
				if err == nil {
					t.Fatalf("compiled; want an error with:\n%s", strings.Join(want, "\n"))
				}
				for _, w := range want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range lines(t, filepath.Join(dir, "warnings.txt")) {
				if !strings.Contains(strings.Join(set.Warnings, "\n"), w) {
					t.Errorf("warnings lack %q: %q", w, set.Warnings)
				}
			}
			if len(set.Tests) == 0 {
				t.Fatal("a golden case without tests proves nothing")
			}
			rep := ruletest.Run(set, ruletest.Options{Geo: db})
			if !rep.OK() {
				t.Fatalf("\n%s", report(rep))
			}
		})
	}
	if n == 0 {
		t.Fatal("no golden cases")
	}
}

// lines returns the non-empty lines of path, or nil when it does not exist.
func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}
