package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/riskd/riskd/rules"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(1)
	}
}

// start is the first day of the simulated time. Fixed, so that the same seed gives the same events; event time
// is all riskd runs on.
var start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

type options struct {
	geoip, rules, userAgents, lists, out, dump string
	users, warmupDays, days                    int
	seed                                       uint64
	explain, json                              bool
}

func run(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.geoip, "geoip", "var/geoip-eval", "directory of "+cityFile+", "+asnFile+" and "+anonymousFile+" (go run ./bench/geogen -out DIR -networks 300000)")
	fs.StringVar(&o.rules, "rules", "", "rule file or directory of *.yaml files to evaluate, as riskd serve --rules takes (default: the built-in set)")
	fs.StringVar(&o.userAgents, "ua", "../shared/ua/real-user-agents.tsv", "real browser user agents (weight, device_category, platform, language, user_agent); missing or empty: a built-in handful")
	fs.StringVar(&o.lists, "lists", "", "directory to write the known-bad list to ("+knownBadList+".ip.txt) and load every NAME.KIND.txt list from, as riskd serve --lists does (default: a temporary directory)")
	fs.StringVar(&o.out, "out", "", "also write the table to this CSV file")
	fs.StringVar(&o.dump, "dump", "", "also write every measured event to this file, one JSON line each: class, decision, score, rules fired and the feature vector")
	fs.IntVar(&o.users, "users", 20000, "legitimate users; the attacks grow with them")
	fs.IntVar(&o.warmupDays, "warmup-days", 30, "simulated days that build the profiles, not scored")
	fs.IntVar(&o.days, "days", 7, "simulated days measured")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the population and the attacks")
	fs.BoolVar(&o.explain, "explain", false, "also print, per class and decision, the rules that fired")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || o.users < 10 || o.days < 1 || o.warmupDays < 1 || o.warmupDays+o.days > 170 {
		return errors.New("usage: eval [-geoip DIR] [-rules FILE|DIR] [-users N >= 10] [-warmup-days D] [-days D] (together at most 170: riskd refuses events older than its retention) [-seed S] [-explain] [-json] [-out FILE.csv] [-dump FILE.ndjson]")
	}
	rep, err := evaluate(o)
	if err != nil {
		return err
	}
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return err
		}
		if err := errors.Join(rep.WriteCSV(f), f.Close()); err != nil {
			return fmt.Errorf("%s: %w", o.out, err)
		}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.WriteText(stdout, o.explain)
	return nil
}

// evaluate generates the population and the attacks, replays them through an engine assembled as riskd serve
// assembles one, and reports.
func evaluate(o options) (*Report, error) {
	set, err := rules.Load(o.rules)
	if err != nil {
		return nil, err
	}
	w, db, err := loadWorld(o.geoip)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	uat, err := loadUserAgents(o.userAgents)
	if err != nil {
		return nil, err
	}
	g := newGenerator(w, uat, o.seed, start, o.warmupDays, o.days)
	g.population(o.users)
	g.checkouts()
	bad := g.attacks(o.users)
	g.transactions(o.users)

	dir := o.lists
	if dir == "" {
		if dir, err = os.MkdirTemp("", "riskd-eval-lists-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	if err := writeList(dir, bad); err != nil {
		return nil, err
	}
	clock := &simClock{now: g.start * 1e9}
	eng, err := assemble(set, db, dir, clock)
	if err != nil {
		return nil, err
	}
	var (
		dump *os.File
		dw   io.Writer // nil unless dumping: a nil *os.File would not be a nil io.Writer
	)
	if o.dump != "" {
		if dump, err = os.Create(o.dump); err != nil {
			return nil, err
		}
		dw = dump
	}
	t, err := replay(eng, g, clock, dw)
	if dump != nil {
		if cerr := dump.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("%s: %w", o.dump, cerr)
		}
	}
	if err != nil {
		return nil, err
	}
	rep := &Report{Users: o.users, Seed: o.seed, Start: start, Measured: time.Unix(g.split, 0).UTC(), WarmupDays: o.warmupDays,
		Days: o.days, Rules: set.Version, RulesSource: set.Source, GeoIP: o.geoip, Networks: len(w.nets), UserAgents: uat.source}
	rep.build(t, set)
	return rep, nil
}
