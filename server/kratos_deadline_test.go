package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
)

// TestKratosDeadline: a decision slower than the adapter's deadline is answered with the fail policy in time,
// so the login goes on; the slow evaluation still completes and its request state is released after it.
func TestKratosDeadline(t *testing.T) {
	reg := metrics.NewSet()
	s, err := New(Config{Engine: enginetest.New(t, reg), Metrics: reg, KratosDeadline: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	finished := make(chan struct{})
	decide := s.decideKratos
	s.decideKratos = func(ev *features.Event, d *engine.Decision) error {
		defer close(finished)
		time.Sleep(time.Second) // a stalled state backend
		return decide(ev, d)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	body, _ := json.Marshal(map[string]any{
		"identity":        map[string]any{"id": "9f8c3a52-1b0e-4d55-8f0e-6c1a7e2b0009"},
		"session":         map[string]any{"authenticator_assurance_level": "aal1"},
		"request_headers": map[string]any{"True-Client-Ip": []string{"81.2.69.1"}}, // denied when decided
	})
	began := time.Now()
	resp, err := http.Post("http://"+ln.Addr().String()+"/v1/adapters/kratos/login/after", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || m["decision"] != "allow" || m["fallback"] != true {
		t.Fatalf("%d %v: want the fail policy's allow", resp.StatusCode, m)
	}
	if took > 500*time.Millisecond {
		t.Fatalf("answered after %v; the deadline is 50 ms", took)
	}
	if s.kratosLate.Get() != 1 {
		t.Fatalf("deadline fallbacks counted: %d", s.kratosLate.Get())
	}
	<-finished // the evaluation completes (and releases its state) after the answer; -race checks the hand-over
}
