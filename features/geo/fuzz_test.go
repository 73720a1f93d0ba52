package geo

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDamagedCity overwrites bytes of the City test database (every 6 input
// bytes: a 4-byte position, the new byte, one spare) and looks the known
// addresses up: a damaged file may be refused by Open or answer partially,
// but must never panic.
//
//	go test -fuzz FuzzDamagedCity ./features/geo/
func FuzzDamagedCity(f *testing.F) {
	cfg := testConfig(f)
	orig, err := os.ReadFile(cfg.CityPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{0, 0, 0, 10, 0xff, 0})
	f.Add([]byte{0, 0, 0x40, 0, 0xe0, 0, 0, 0, 0x40, 1, 0x1f, 0})
	addrs := make([]netip.Addr, len(knownAddresses))
	for i, tc := range knownAddresses {
		addrs[i] = netip.MustParseAddr(tc.ip)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, flips []byte) {
		data := append([]byte(nil), orig...)
		for ; len(flips) >= 6; flips = flips[6:] {
			data[int(binary.BigEndian.Uint32(flips))%len(data)] = flips[4]
		}
		path := filepath.Join(dir, "city.mmdb")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(Config{CityPath: path, CacheSize: 16})
		if err != nil {
			return
		}
		defer db.Close()
		for _, ip := range addrs {
			db.Lookup(ip)
		}
	})
}
