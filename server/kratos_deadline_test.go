package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
)

// TestKratosDeadline: a decision slower than the adapter's deadline is answered with the fail policy in time,
// so the login goes on; the slow evaluation still completes and its request state is released after it, and
// until then it counts in flight: with MaxInflight 1 the next hook is answered with the fail policy at once,
// without starting a second evaluation.
func TestKratosDeadline(t *testing.T) {
	reg := metrics.NewSet()
	s, err := New(Config{Engine: enginetest.New(t, reg), Metrics: reg, KratosDeadline: 50 * time.Millisecond, MaxInflight: 1})
	if err != nil {
		t.Fatal(err)
	}
	finished := make(chan struct{})
	var calls atomic.Int32
	decide := s.decideKratos
	s.decideKratos = func(ev *features.Event, d *engine.Decision) error {
		if calls.Add(1) == 1 {
			defer close(finished)
			time.Sleep(time.Second) // a stalled state backend
		}
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
	hook := func() (map[string]any, time.Duration) {
		began := time.Now()
		resp, err := http.Post("http://"+ln.Addr().String()+"/v1/adapters/kratos/login/after", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(began)
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden {
			m["decision"] = "deny" // Kratos's messages format: the refusal is the status
		} else if resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %v", resp.StatusCode, m)
		}
		return m, took
	}
	m, took := hook()
	if m["decision"] != "allow" || m["fallback"] != true {
		t.Fatalf("%v: want the fail policy's allow", m)
	}
	if took > 500*time.Millisecond {
		t.Fatalf("answered after %v; the deadline is 50 ms", took)
	}
	if s.kratosLate.Get() != 1 {
		t.Fatalf("deadline fallbacks counted: %d", s.kratosLate.Get())
	}

	// The first evaluation still holds the one slot: the next hook is shed to the fail policy, not evaluated.
	m, _ = hook()
	if m["decision"] != "allow" || m["fallback"] != true || calls.Load() != 1 || s.shed.Get() != 1 {
		t.Fatalf("%v, %d evaluations, %d shed: want the fail policy without a second evaluation", m, calls.Load(), s.shed.Get())
	}
	<-finished // the evaluation completes (and releases its state and slot) after the answer; -race checks the hand-over
	for s.inflight.Load() != 0 {
		time.Sleep(time.Millisecond)
	}
	m, _ = hook()
	if m["decision"] != "deny" || calls.Load() != 2 {
		t.Fatalf("%v after the slow evaluation ended (%d evaluations): want riskd's own deny", m, calls.Load())
	}
}
