// Command riskd is the risk-scoring decision service and its tools.
//
//	riskd serve      serve the HTTP API
//	riskd check      compile rules and run their tests
//	riskd key        make an API key and its keyring entry
//	riskd backtest   replay decision logs through candidate rules
//	riskd import     seed user profiles from legacy login history
//	riskd features   print the feature reference (the names rules use)
//	riskd version    print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: riskd <command> [flags]

commands:
  serve      serve the HTTP API (riskd serve -h for flags)
  check      compile rules and run their tests: riskd check FILE|DIR [--geoip-city …]
  backtest   replay decision logs through candidate rules: riskd backtest --rules FILE --log FILE...
  import     seed profiles from legacy login history: riskd import --data-dir DIR|--redis ADDR FILE.csv|.ndjson[.gz]|-
  key        make an API key: riskd key --name NAME [--scopes decide,admin] [--tenants a,b]
  features   print the feature reference: the fields rules can use
  version    print the version
`

// run is main without the process: it returns the exit code, so tests can drive every command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr)
	case "check":
		err = check(args[1:], stdout)
	case "backtest":
		err = runBacktest(args[1:], stdout)
	case "import":
		err = runImport(ctx, args[1:], os.Stdin, stdout, stderr)
	case "key":
		err = newKey(args[1:], stdout)
	case "features":
		err = printFeatures(stdout)
	case "version":
		fmt.Fprintln(stdout, "riskd", version())
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "riskd: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "riskd:", err)
		return 2
	}
	fmt.Fprintln(stderr, "riskd:", err)
	return 1
}

var errUsage = errors.New("usage")

// version is the module version and VCS revision the binary was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

// parseWithPaths parses args into fs and returns the arguments that are not flags. Flags may come before or
// after them, as people type: riskd check rules/ --geoip-city City.mmdb.
func parseWithPaths(fs *flag.FlagSet, args []string) ([]string, error) {
	var paths []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return paths, nil
		}
		paths = append(paths, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
