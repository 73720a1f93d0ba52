package servertest

import (
	"context"
	"net"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/server"
)

// Start serves a server of cfg on a loopback port and returns its base URL (http://127.0.0.1:PORT). An unset
// Engine or Metrics is a test engine with a metrics set of its own.
func Start(tb testing.TB, cfg server.Config) string {
	tb.Helper()
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	if cfg.Engine == nil {
		cfg.Engine = enginetest.New(tb, cfg.Metrics)
	}
	srv, err := server.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		srv.Shutdown(context.Background())
		<-done
	})
	return "http://" + ln.Addr().String()
}
