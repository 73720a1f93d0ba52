package contracttest

import "testing"

func TestContractLoads(t *testing.T) {
	if _, err := Load(); err != nil {
		t.Fatal(err)
	}
}
