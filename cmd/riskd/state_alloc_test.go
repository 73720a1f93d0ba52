//go:build !race

package main

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/store"
)

// TestDecideAllocationsEmbedded guards the request path over durable state: a returning user's login, which
// reads and counts the velocity windows and marks the learned profile for the writer, allocates nothing. The
// writer runs off the request path (its interval is long here, so that its own work stays out of the count).
func TestDecideAllocationsEmbedded(t *testing.T) {
	st, err := store.OpenEmbedded(store.EmbeddedConfig{Dir: t.TempDir(), FlushInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := enginetest.New(t, nil, func(c *engine.Config) {
		c.Extractor = features.NewExtractor(features.NewHasher([]byte("t")), st, c.Extractor.Geo())
	})
	ev := features.Event{Type: features.Login, UserID: "lee", IP: netip.MustParseAddr("216.160.83.56"),
		DeviceID: "lee-laptop", HasCredentials: true, CredentialsValid: true, Tenant: "default"}
	var d engine.Decision
	decide := func() {
		e2 := ev
		if err := e.Decide(&e2, &d); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		decide()
	}
	if err := st.Sync(); err != nil { // a drained profile must be marked again without allocating
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, decide); n != 0 {
		t.Fatalf("Decide over embedded state allocates %.1f times per call, want 0", n)
	}
}
