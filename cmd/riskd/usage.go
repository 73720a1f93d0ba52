package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// parseServeFlags parses serve's command line. -h prints every flag with its environment variable; a mistyped
// flag is one line naming it and the nearest flag, not the whole list after it (the flag package's habit).
func parseServeFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(io.Discard) // the flag package would print the error and the whole usage: both are said here
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		printServeUsage(fs, stderr)
		return err
	}
	return fmt.Errorf("%w: %v%s (riskd serve -h lists the flags)", errUsage, err, suggestFlag(fs, err))
}

// printServeUsage lists serve's flags, each with its environment variable and default. The usage strings are
// printed as written: the flag package would take a `backquoted` word in them for the argument's name (it
// printed "-keys riskd key" for "see `riskd key`").
func printServeUsage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprint(out, `usage: riskd serve [flags]

Every flag is also read from the environment variable shown, and from a key of the flag's name in the YAML file
given by --config. The command line wins over the environment, which wins over the file.

flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		kind, _ := flag.UnquoteUsage(&flag.Flag{Value: f.Value}) // the value's type, without reading the usage
		if kind != "" {
			kind = " " + kind
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" {
			def = fmt.Sprintf(", default %q", f.DefValue)
		}
		fmt.Fprintf(out, "  --%s%s  (%s%s)\n      %s\n", f.Name, kind, envName(f.Name), def, f.Usage)
	})
}

// suggestFlag names the flag nearest to the one err says is not defined, if one is near.
func suggestFlag(fs *flag.FlagSet, err error) string {
	const prefix = "flag provided but not defined: -"
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		return ""
	}
	typed := strings.TrimLeft(msg[len(prefix):], "-")
	best, bestDist := "", len(typed)/3+2 // beyond about a third of the name, a suggestion is a guess
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(typed, f.Name); d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	if best == "" {
		return ""
	}
	return "; did you mean --" + best + "?"
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
