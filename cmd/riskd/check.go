package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/ruletest"
)

// check compiles a rule file or directory, runs its tests and prints a report. It fails on any compile error
// or failed test, so CI can gate rule changes with it.
func check(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	var gc geo.Config
	fs.StringVar(&gc.CityPath, "geoip-city", "", "GeoIP2/GeoLite2 City mmdb file the tests' addresses are located with")
	fs.StringVar(&gc.ASNPath, "geoip-asn", "", "GeoLite2 ASN mmdb file")
	fs.StringVar(&gc.AnonymousPath, "geoip-anonymous", "", "GeoIP2 Anonymous-IP mmdb file")
	paths, err := parseWithPaths(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("%w: riskd check FILE|DIR... [--geoip-city FILE] [--geoip-asn FILE] [--geoip-anonymous FILE]", errUsage)
	}
	// Several paths are one set, in the order given: e.g. a team's extension and its tests kept apart.
	set, err := rules.LoadPaths(paths)
	if err != nil {
		return err
	}
	db, err := geo.Open(gc)
	if err != nil {
		return err
	}
	defer db.Close()

	var b strings.Builder
	summarize(&b, set)
	for _, w := range set.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	if undeclared := set.UndeclaredTestAddresses(); len(undeclared) > 0 {
		// What the tests see of these depends on the databases: declare them under addresses: to pin it.
		if gc.CityPath == "" && gc.ASNPath == "" && gc.AnonymousPath == "" {
			fmt.Fprintf(&b, "note: no GeoIP databases (--geoip-city, --geoip-asn, --geoip-anonymous): the tests see no geo signals for %s, whose geography the set does not declare (addresses:)\n",
				strings.Join(undeclared, ", "))
		} else {
			fmt.Fprintf(&b, "note: the tests' addresses %s are located with the GeoIP databases given; declare them under addresses: to make the tests hold against any GeoIP data\n",
				strings.Join(undeclared, ", "))
		}
	}
	io.WriteString(stdout, b.String())
	rep := ruletest.Run(set, ruletest.Options{Geo: db})
	if len(rep.Cases) > 0 {
		io.WriteString(stdout, "tests:\n")
	}
	rep.WriteText(stdout)
	if !rep.OK() {
		return fmt.Errorf("%s: %d of %d tests failed", set.Source, rep.Failed, len(rep.Cases))
	}
	return nil
}

// summarize describes a compiled set: its rules, thresholds per event type where they differ, and each
// tenant's overlay.
func summarize(b *strings.Builder, set *rules.Set) {
	shadow := 0
	for i := range set.Rules {
		if set.Rules[i].Shadow {
			shadow++
		}
	}
	extends := ""
	if set.Extends != "" {
		extends = ", extends " + set.Extends
	}
	fmt.Fprintf(b, "%s: ok: %d rules (%d shadow), %d tenants, %d tests, version %s%s, step_up from %d, deny from %d\n",
		set.Source, len(set.Rules), shadow, len(set.Tenants()), len(set.Tests), set.Version, extends, set.Thresholds.StepUp, set.Thresholds.Deny)
	// differing lists the event types whose thresholds for tenant differ from those of base (a tenant).
	differing := func(tenant string, base func(features.EventType) rules.Thresholds) string {
		var parts []string
		for t := features.Login; t < features.NumEventTypes; t++ {
			if th := set.ThresholdsFor(tenant, t); th != base(t) {
				parts = append(parts, fmt.Sprintf("%s step_up %d deny %d", t, th.StepUp, th.Deny))
			}
		}
		return strings.Join(parts, ", ")
	}
	if d := differing("", func(features.EventType) rules.Thresholds { return set.Thresholds }); d != "" {
		fmt.Fprintf(b, "  thresholds: %s\n", d)
	}
	for _, name := range set.Tenants() {
		var parts []string
		own := 0
		for i := range set.Rules {
			if set.Rules[i].Tenant == name {
				own++
			}
		}
		if own > 0 {
			parts = append(parts, fmt.Sprintf("%d rules of its own", own))
		}
		if dis := set.Disabled(name); len(dis) > 0 {
			parts = append(parts, "disables "+strings.Join(dis, ", "))
		}
		if d := differing(name, func(t features.EventType) rules.Thresholds { return set.ThresholdsFor("", t) }); d != "" {
			parts = append(parts, "thresholds: "+d)
		}
		if len(parts) == 0 {
			parts = append(parts, "as the global set")
		}
		fmt.Fprintf(b, "  tenant %s: %s\n", name, strings.Join(parts, "; "))
	}
}

// loadRules compiles the rule file or directory at path, or the built-in set when path is empty.
func loadRules(path string) (*rules.Set, error) { return rules.Load(path) }

// testRules runs set's tests over db (the serving GeoIP databases) and returns an error listing every failed
// case, or nil. It gates what goes live: start-up and SIGHUP reloads of --rules. The built-in set is not run
// here: it cannot change without a new build, whose tests run it against MaxMind's test databases
// (ruletest's TestBuiltinRules), and the addresses chosen from those are placed elsewhere by production ones.
func testRules(set *rules.Set, db *geo.DB) error {
	if set.Source == rules.DefaultSource {
		return nil
	}
	return ruletest.Run(set, ruletest.Options{Geo: db}).Err()
}

// printFeatures prints the feature reference as a Markdown table.
func printFeatures(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Feature reference\n\n")
	b.WriteString("The fields of the feature vector, by the names rules use in `when` expressions. ")
	b.WriteString("Generated by `riskd features`; do not edit by hand.\n\n")
	b.WriteString("| name | type | meaning |\n| --- | --- | --- |\n")
	for _, f := range features.Fields() {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Name, f.Type, f.Doc)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
