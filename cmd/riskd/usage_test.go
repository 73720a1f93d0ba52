package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

// TestServeHelpNamesEveryEnvironmentVariable: serve -h lists every flag with its environment variable, and
// prints the usage strings as written (the flag package turned "see `riskd key`" into "-keys riskd key").
func TestServeHelpNamesEveryEnvironmentVariable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"serve", "-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("serve -h: exit %d\n%s", code, stderr.String())
	}
	help := stderr.String()
	var c serveConfig
	n := 0
	serveFlags(&c).VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(help, "--"+f.Name+" ") || !strings.Contains(help, "("+envName(f.Name)) {
			t.Errorf("serve -h does not list --%s with %s", f.Name, envName(f.Name))
		}
	})
	if n < 40 {
		t.Fatalf("serve has %d flags: the test no longer reads them", n)
	}
	for _, want := range []string{"--keys string  (RISKD_KEYS)", "see `riskd key`", "--kratos-deadline duration  (RISKD_KRATOS_DEADLINE, default \"250ms\")"} {
		if !strings.Contains(help, want) {
			t.Errorf("serve -h lacks %q", want)
		}
	}
	if strings.Contains(help, "-keys riskd key") {
		t.Error("serve -h still takes the backquoted `riskd key` for the flag's argument")
	}
}

// TestServeMistypedFlag: a mistyped flag is one line naming it, the nearest flag and where the list is; not the
// forty lines of usage the flag package prints after the error.
func TestServeMistypedFlag(t *testing.T) {
	for _, c := range []struct{ arg, hint string }{
		{"--lisen", "did you mean --listen?"},
		{"-geoip-cty", "did you mean --geoip-city?"},
		{"--zzzzzzzz", ""},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), []string{"serve", c.arg, "x"}, &stdout, &stderr); code != 2 {
			t.Fatalf("%s: exit %d, want 2", c.arg, code)
		}
		out := strings.TrimSpace(stderr.String())
		if strings.Count(out, "\n") != 0 || !strings.Contains(out, strings.TrimLeft(c.arg, "-")) ||
			!strings.Contains(out, c.hint) || !strings.Contains(out, "riskd serve -h") {
			t.Errorf("%s: %q, want one line naming it, %q and riskd serve -h", c.arg, out, c.hint)
		}
		if c.hint == "" && strings.Contains(out, "did you mean") {
			t.Errorf("%s: a suggestion far from what was typed: %q", c.arg, out)
		}
	}
}
