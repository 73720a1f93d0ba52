package contracttest

import (
	"os/exec"
	"strings"
	"testing"
)

func TestContractLoads(t *testing.T) {
	if _, err := Load(); err != nil {
		t.Fatal(err)
	}
}

// TestBinaryDoesNotCarryTheValidator: the validator is for tests; riskd and the client must not link it.
func TestBinaryDoesNotCarryTheValidator(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	for _, pkg := range []string{"github.com/riskd/riskd/cmd/riskd", "github.com/riskd/riskd/client"} {
		out, err := exec.Command(goTool, "list", "-deps", pkg).Output()
		if err != nil {
			t.Skipf("go list: %v", err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.Contains(dep, "kin-openapi") || strings.HasSuffix(dep, "/contracttest") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
