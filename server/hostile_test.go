package server_test

import (
	"crypto/tls"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/server"
)

// TestHostileBodiesNeverCrashOrLeak sends 1,500 mangled request bodies over HTTP: each must be answered
// with 200 or a JSON 4xx (never a 5xx), and the server must stay healthy. Bodies are mutations of valid
// requests, so most get deep into validation before failing.
func TestHostileBodiesNeverCrashOrLeak(t *testing.T) {
	ts := start(t)
	seeds := []string{
		`{"type":"login","user_id":"zed","ip":"216.160.83.56","device_id":"d","credentials_valid":false,"timestamp":"2026-01-02T03:04:05Z"}`,
		`{"type":"checkout","user_id":"zed","ip":"2001:db8::1","amount":12.5,"currency":"EUR","attributes":{"k":"v"}}`,
		`{"type":"registration","ip":"::ffff:1.2.3.4","tenant":"brand-a","channel":"mobile","mfa_preference":"always"}`,
	}
	mutators := []func(r *mrand.Rand, b []byte) []byte{
		func(r *mrand.Rand, b []byte) []byte { b[r.IntN(len(b))] = byte(r.IntN(256)); return b },         // flip a byte
		func(r *mrand.Rand, b []byte) []byte { return b[:r.IntN(len(b))] },                               // truncate
		func(r *mrand.Rand, b []byte) []byte { i := r.IntN(len(b)); return append(b[:i:i], b[i+1:]...) }, // drop a byte
		func(r *mrand.Rand, b []byte) []byte { // duplicate a slice
			i := r.IntN(len(b))
			return append(b[:i:i], append([]byte(strings.Repeat(string(b[i:]), 2)), b[len(b)-1])...)
		},
		func(r *mrand.Rand, b []byte) []byte { // nest deeply
			n := 1 + r.IntN(500)
			return []byte(strings.Repeat(`{"a":`, n) + string(b) + strings.Repeat("}", n))
		},
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	counts := map[int]int{}
	for i := range 1500 {
		b := []byte(seeds[i%len(seeds)])
		for range 1 + r.IntN(3) {
			if len(b) == 0 {
				break
			}
			b = mutators[r.IntN(len(mutators))](r, b)
		}
		status, m := ts.do(http.MethodPost, "/v1/decide", "application/json", b)
		counts[status]++
		switch {
		case status >= 500:
			t.Fatalf("status %d for %q: %v", status, b, m)
		case status != 200 && (m == nil || errorCode(m) == ""):
			t.Fatalf("status %d without a JSON error for %q", status, b)
		}
	}
	if status, _ := ts.do(http.MethodGet, "/healthz", "", nil); status != 200 {
		t.Fatal("unhealthy after hostile input")
	}
	t.Logf("answers by status: %v", counts)
}

// TestServeTLS serves HTTPS with a certificate and key from files.
func TestServeTLS(t *testing.T) {
	addr, client := startTLS(t, server.Config{}, (*server.Server).ServeTLS)
	resp, err := client.Post("https://"+addr+"/v1/decide", "application/json",
		strings.NewReader(`{"type":"login","user_id":"tls","ip":"216.160.83.56"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
}

// startTLS starts a server of cfg (with a test engine) on a loopback listener through serve (ServeTLS or
// ServeAdminTLS) with a self-signed certificate, and returns its address and a client that trusts it.
func startTLS(t *testing.T, cfg server.Config, serve func(*server.Server, net.Listener, string, string) error) (string, *http.Client) {
	certs := testenv.NewCerts(t)
	cfg.Metrics = metrics.NewSet()
	cfg.Engine = enginetest.New(t, cfg.Metrics)
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve(srv, ln, certs.ServerCert, certs.ServerKey) }()
	t.Cleanup(func() { srv.Shutdown(t.Context()); <-done })
	return ln.Addr().String(), &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certs.Pool}}}
}
