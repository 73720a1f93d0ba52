package store

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Figures on the 2-core development machine (go test ./store -run '^$' -bench OpenEmbedded -benchtime 3x), with
// the database file in the page cache, as after a restart:
//
//	OpenEmbedded/profiles=1M   (see BENCHMARKS.md: start-up with 1 M stored profiles)
//
// and the flush of a batch of changed profiles into a 1 M-profile database (-bench FlushEmbedded).

// typicalOp is the i-th change of a typical user: two devices, one trusted after MFA, two countries.
func typicalOps(user uint64, at int64) [3]ProfileOp {
	place := func(c string) Place {
		return Place{Country: [2]byte{c[0], c[1]}, Lat: 48.1, Lon: 11.6, RadiusKm: 20, HasLocation: true, CityID: 2867714, ASN: 3320}
	}
	return [3]ProfileOp{
		{Kind: OpLogin, At: at - 86400, Device: mix(user), HasDevice: true, Place: place("DE"), Network: uint32(mix(user)), Agent: 0x5eed, Class: 1},
		{Kind: OpTrust, At: at - 3600, Device: mix(user + 1), HasDevice: true, Place: place("AT"), Network: uint32(mix(user + 1)), Agent: 0x5eef, Class: 2},
		{Kind: OpLogin, At: at, Device: mix(user), HasDevice: true, Place: place("DE"), Network: uint32(mix(user)), Agent: 0x5eed, Class: 1},
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fillEmbedded stores n typical profiles in dir.
func fillEmbedded(tb testing.TB, dir string, n int) {
	tb.Helper()
	e, err := OpenEmbedded(EmbeddedConfig{Dir: dir, MaxKeys: 1 << 10, FlushInterval: time.Hour, Logger: quiet()})
	if err != nil {
		tb.Fatal(err)
	}
	at := time.Now().Unix()
	for u := range uint64(n) {
		for _, op := range typicalOps(u, at) {
			e.Apply(mix(u), op)
		}
		if u%200_000 == 0 { // commits of a bounded size, as the writer would make them
			if err := e.Sync(); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := e.Close(); err != nil {
		tb.Fatal(err)
	}
}

func BenchmarkOpenEmbedded(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	fillEmbedded(b, dir, n)
	b.ResetTimer()
	for b.Loop() {
		// Room for every stored profile: this measures loading all of them.
		e, err := OpenEmbedded(EmbeddedConfig{Dir: dir, MaxKeys: 1 << 10, MaxProfiles: 2 * n, Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if got := e.Profiles.Len(); got != n {
			b.Fatalf("%d profiles loaded", got)
		}
		e.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "profiles/s")
	if fi, err := os.Stat(filepath.Join(dir, DBFile)); err == nil {
		b.ReportMetric(float64(fi.Size())/n, "file-B/profile")
	}
}

// BenchmarkFlushEmbedded commits batches of 10 k changed profiles into a database of 1 M: the writer's cost per
// second under a load that changes 10 k profiles a second.
func BenchmarkFlushEmbedded(b *testing.B) {
	const n, batch = 1_000_000, 10_000
	dir := b.TempDir()
	fillEmbedded(b, dir, n)
	e, err := OpenEmbedded(EmbeddedConfig{Dir: dir, MaxKeys: 1 << 10, FlushInterval: time.Hour, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	at := time.Now().Unix()
	u := uint64(0)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for range batch {
			u = (u + 7919) % n
			e.Apply(mix(u), ProfileOp{Kind: OpLogin, At: at, Device: mix(u), HasDevice: true})
		}
		b.StartTimer()
		if err := e.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch), "profiles/op")
}
