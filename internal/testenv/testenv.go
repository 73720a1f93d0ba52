// Package testenv builds what tests share: it locates the shared test material (MaxMind's test GeoIP databases, user agents, IP lists)
// that lives in ../shared beside the repository. Tests call it so that all of them agree on one rule: skip
// with a clear message when the folder is absent, except under CI=true, where its absence fails the test. It also
// makes the certificates of the TLS tests (NewCerts), and collects child processes' output (Output).
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Shared returns the path of file rel inside ../shared, or skips (fails under CI=true) when it is missing.
func Shared(tb testing.TB, rel string) string {
	tb.Helper()
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..", "..", "shared")
	p := filepath.Join(root, rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("shared test data %s is missing under CI: %v", p, err)
		}
		tb.Skipf("shared test data %s not found (clone the shared folder beside the repository to run this test)", p)
	}
	return p
}

// GeoIP returns the paths of MaxMind's City, ASN and Anonymous-IP test databases.
func GeoIP(tb testing.TB) (city, asn, anonymous string) {
	tb.Helper()
	return Shared(tb, "geoip/GeoIP2-City-Test.mmdb"),
		Shared(tb, "geoip/GeoLite2-ASN-Test.mmdb"),
		Shared(tb, "geoip/GeoIP2-Anonymous-IP-Test.mmdb")
}
