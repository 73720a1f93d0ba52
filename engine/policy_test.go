package engine_test

import (
	"testing"

	"github.com/riskd/riskd/engine"
)

func TestParseFailPolicy(t *testing.T) {
	p, err := engine.ParseFailPolicy("login=deny, checkout=allow")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.String(); got != "login=deny,registration=allow,password_reset=step_up,checkout=allow,payment_method_change=step_up,profile_change=step_up" {
		t.Fatalf("policy %s", got)
	}
	for _, bad := range []string{"login", "logon=allow", "login=maybe"} {
		if _, err := engine.ParseFailPolicy(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
