package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/riskd/riskd/backtest"
)

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// runBacktest replays decision logs through a candidate rule file and prints the comparison.
func runBacktest(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	rulesPath := fs.String("rules", "", "candidate rule file (default: the built-in set)")
	var logs multiFlag
	fs.Var(&logs, "log", "decision log file (repeatable; rotated files too)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	samples := fs.Int("samples", 20, "changed decisions to show")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logs = append(logs, fs.Args()...)
	if len(logs) == 0 {
		return fmt.Errorf("%w: riskd backtest --rules CANDIDATE.yaml --log decisions.ndjson [--log ...]", errUsage)
	}
	set, err := loadRules(*rulesPath)
	if err != nil {
		return err
	}
	var readers []io.Reader
	for _, path := range logs {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("backtest: %w", err)
		}
		defer f.Close()
		readers = append(readers, f)
	}
	rep, err := backtest.Run(io.MultiReader(readers...), set, backtest.Options{Samples: *samples})
	if err != nil && (rep == nil || rep.Events == 0) {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return errors.Join(err, enc.Encode(rep))
	}
	rep.WriteText(stdout)
	return err
}
