package main

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/riskd/riskd/features/geo"
)

func openGenerated(t *testing.T, dir string) *geo.DB {
	t.Helper()
	db, err := geo.Open(geo.Config{
		CityPath:      filepath.Join(dir, cityFile),
		ASNPath:       filepath.Join(dir, asnFile),
		AnonymousPath: filepath.Join(dir, anonymousFile),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestDemoSet(t *testing.T) {
	dir := t.TempDir()
	if err := run([]string{"-out", dir}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	db := openGenerated(t, dir)

	wantTypes := map[string]string{geo.KindCity: "GeoIP2-City", geo.KindASN: "GeoLite2-ASN", geo.KindAnonymous: "GeoIP2-Anonymous-IP"}
	for _, s := range db.Status() {
		if s.DatabaseType != wantTypes[s.Kind] {
			t.Errorf("%s: database type %q, want %q", s.Path, s.DatabaseType, wantTypes[s.Kind])
		}
	}

	all := geo.Info{Anonymous: true, VPN: true, Tor: true, Hosting: true, PublicProxy: true, ResidentialProxy: true}
	withAll := func(i geo.Info) geo.Info {
		i.Anonymous, i.VPN, i.Tor, i.Hosting, i.PublicProxy, i.ResidentialProxy = true, true, true, true, true, true
		return i
	}
	for _, tc := range []struct {
		ip   string
		want geo.Info
	}{
		// MaxMind's test answers (../shared/README.md).
		{"81.2.69.142", withAll(geo.Info{Country: "GB", Region: "ENG", City: "London", CityID: 2643743,
			Lat: 51.5142, Lon: -0.0931, RadiusKm: 10, HasLocation: true})},
		{"2.125.160.216", geo.Info{Country: "GB", Region: "ENG", City: "Boxford", CityID: 2655045,
			Lat: 51.75, Lon: -1.25, RadiusKm: 100, HasLocation: true}},
		{"89.160.20.112", geo.Info{Country: "SE", Region: "E", City: "Linköping", CityID: 2694762,
			Lat: 58.4167, Lon: 15.6167, RadiusKm: 76, HasLocation: true, ASN: 29518, ASOrg: "Bredband2 AB"}},
		{"216.160.83.56", geo.Info{Country: "US", Region: "WA", City: "Milton", CityID: 5803556,
			Lat: 47.2513, Lon: -122.3149, RadiusKm: 22, HasLocation: true, ASN: 209}},
		{"175.16.199.1", geo.Info{Country: "CN", Region: "22", City: "Changchun", CityID: 2038180,
			Lat: 43.88, Lon: 125.3228, RadiusKm: 100, HasLocation: true}},
		{"67.43.156.1", geo.Info{Country: "BT", Lat: 27.5, Lon: 90.5, RadiusKm: 534, HasLocation: true, ASN: 35908}},
		{"1.0.0.1", geo.Info{ASN: 15169, ASOrg: "Google Inc."}},
		{"1.128.0.1", geo.Info{ASN: 1221, ASOrg: "Telstra Pty Ltd"}},
		{"12.81.92.1", geo.Info{ASN: 7018, ASOrg: "AT&T Services"}},
		{"81.2.69.1", all},
		{"1.2.0.1", geo.Info{Anonymous: true, VPN: true}},
		{"1.124.213.1", geo.Info{Anonymous: true, VPN: true, Tor: true}},
		{"65.0.0.1", geo.Info{Anonymous: true, Tor: true}},
		{"71.160.223.1", geo.Info{Anonymous: true, Hosting: true}},
		{"186.30.236.1", geo.Info{Anonymous: true, PublicProxy: true}},
		{"8.8.8.8", geo.Info{}},
		{"2001:480:3a::1", geo.Info{Anonymous: true, PublicProxy: true}},

		// Loopback and documentation ranges for curl demos.
		{"127.0.0.1", geo.Info{Country: "FR", Region: "IDF", City: "Paris", CityID: 2988507,
			Lat: 48.8534, Lon: 2.3488, RadiusKm: 20, HasLocation: true, ASN: 3215, ASOrg: "Orange S.A."}},
		{"::1", geo.Info{Country: "FR", Region: "IDF", City: "Paris", CityID: 2988507,
			Lat: 48.8534, Lon: 2.3488, RadiusKm: 20, HasLocation: true, ASN: 3215, ASOrg: "Orange S.A."}},
		{"192.0.2.10", geo.Info{Country: "DE", Region: "BE", City: "Berlin", CityID: 2950159,
			Lat: 52.5244, Lon: 13.4105, RadiusKm: 20, HasLocation: true, ASN: 3320, ASOrg: "Deutsche Telekom AG"}},
		{"198.51.100.7", geo.Info{Country: "US", Region: "NY", City: "New York", CityID: 5128581,
			Lat: 40.7143, Lon: -74.006, RadiusKm: 10, HasLocation: true, ASN: 7922, ASOrg: "Comcast Cable Communications, LLC"}},
		{"198.51.100.200", geo.Info{Country: "NL", Region: "NH", City: "Amsterdam", CityID: 2759794,
			Lat: 52.374, Lon: 4.8897, RadiusKm: 50, HasLocation: true, ASN: 60068, ASOrg: "Datacamp Limited",
			Anonymous: true, Tor: true}},
		{"203.0.113.5", geo.Info{Country: "AU", Region: "NSW", City: "Sydney", CityID: 2147714,
			Lat: -33.8678, Lon: 151.2073, RadiusKm: 20, HasLocation: true, ASN: 1221, ASOrg: "Telstra Pty Ltd"}},
		{"203.0.113.200", geo.Info{Country: "SG", City: "Singapore", CityID: 1880252,
			Lat: 1.2897, Lon: 103.8501, RadiusKm: 50, HasLocation: true, ASN: 9009, ASOrg: "M247 Europe SRL",
			Anonymous: true, VPN: true, Hosting: true}},
		{"2001:db8::1", geo.Info{Country: "JP", Region: "13", City: "Tokyo", CityID: 1850147,
			Lat: 35.6895, Lon: 139.6917, RadiusKm: 50, HasLocation: true, ASN: 4713, ASOrg: "NTT Communications Corporation"}},
		{"10.1.2.3", geo.Info{}},
		{"192.168.1.1", geo.Info{}},
	} {
		if got := db.Lookup(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Lookup(%s)\n got %+v\nwant %+v", tc.ip, got, tc.want)
		}
	}
	if n := db.Errors(); n != 0 {
		t.Errorf("%d decode errors", n)
	}
	verifyAll(t, dir)
}

// verifyAll runs maxminddb's structural verifier over the three files.
func verifyAll(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{cityFile, asnFile, anonymousFile} {
		r, err := maxminddb.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Verify(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		_ = r.Close()
	}
}

func TestSyntheticSet(t *testing.T) {
	const n = 10_000
	dir := t.TempDir()
	o := options{networks: n, seed: 7, buildEpoch: 1_767_225_600, stdout: io.Discard}
	sizes, err := generate(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if sizes[0].networks != n+len(demoCity()) {
		t.Errorf("city: %d networks, want %d", sizes[0].networks, n+len(demoCity()))
	}
	anon := sizes[2].networks - len(demoAnonymous())
	if anon < n/100 || anon > n/10 {
		t.Errorf("%d anonymous networks of %d, want a few %%", anon, n)
	}
	verifyAll(t, dir)

	// Every synthetic network resolves to a country and an ASN, through the
	// same reader riskd uses (the demo entries, inserted last, may cover a
	// few of them).
	db := openGenerated(t, dir)
	d := synthesize(n, o.seed)
	var noCountry, noASN, v6 int
	for _, e := range d.city {
		info := db.Lookup(e.prefix.Addr())
		if info.Country == "" {
			noCountry++
		}
		if info.ASN == 0 {
			noASN++
		}
		if e.prefix.Addr().Is6() {
			v6++
		}
	}
	if noCountry > 10 || noASN > 10 {
		t.Errorf("%d networks without country, %d without ASN", noCountry, noASN)
	}
	if v6 < n/20 || v6 > n/4 {
		t.Errorf("%d IPv6 networks of %d, want ~15%%", v6, n)
	}

	// Same seed, same bytes: benchmark runs compare like with like.
	again := t.TempDir()
	if _, err := generate(again, o); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{cityFile, asnFile, anonymousFile} {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, _ := os.ReadFile(filepath.Join(again, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"-networks", "-1", "-out", t.TempDir()}, {"-out", t.TempDir(), "extra"}} {
		if err := run(args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
