package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadRates: --currency-rates reads the file whole, and a file that does not parse is refused with its line
// (the reload then keeps the live table).
func TestLoadRates(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "rates.txt")
	if err := os.WriteFile(good, []byte("base EUR\ndate 2026-12-01\nUSD 0.86\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := loadRates(good)
	if err != nil || r.Base != "EUR" || r.Count != 2 || r.Source != good {
		t.Fatalf("%+v %v", r, err)
	}
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("base EUR\nUSD zero\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadRates(bad); err == nil || !strings.Contains(err.Error(), "bad.txt:2") {
		t.Fatalf("bad file: %v", err)
	}
	if _, err := loadRates(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
}
