package main

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serveLoopback serves h on a loopback port until the test ends and returns its address.
func serveLoopback(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	go srv.Serve(ln) //nolint:errcheck // ends with the listener
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

func TestPrimeSendsEverySweepRequestOnce(t *testing.T) {
	m := testMix(t, MixConfig{Users: 200, Travel: 0.1, Attack: 0.1, AttackIPs: 4, TravelIPs: 30, StuffedUsers: 20,
		StuffedDevices: 25, Seed: 8})
	var mu sync.Mutex
	got := map[string]int{}
	addr := serveLoopback(t, func(ctx *fasthttp.RequestCtx) {
		mu.Lock()
		got[string(ctx.PostBody())]++
		mu.Unlock()
	})
	res, err := prime(context.Background(), addr, "/v1/decide", m, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.sent != m.PrimeLen() {
		t.Errorf("sent %d, want %d", res.sent, m.PrimeLen())
	}
	for i := range m.PrimeLen() {
		// A user with one device logs in twice with it: those two bodies are the same.
		if b := string(m.AppendPrime(nil, i)); got[b] == 0 {
			t.Fatalf("priming request %d never arrived: %s", i, b)
		}
	}
	total := 0
	for _, n := range got {
		total += n
	}
	if total != m.PrimeLen() {
		t.Errorf("the server got %d requests, want %d", total, m.PrimeLen())
	}
}

func TestPrimeFailsOnARefusal(t *testing.T) {
	m := testMix(t, MixConfig{Users: 100, Seed: 9})
	addr := serveLoopback(t, func(ctx *fasthttp.RequestCtx) {
		if strings.Contains(string(ctx.PostBody()), `"u42"`) {
			ctx.Error(`{"error":"no"}`, fasthttp.StatusBadRequest)
		}
	})
	_, err := prime(context.Background(), addr, "/v1/decide", m, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "status 400") {
		t.Fatalf("err %v, want the refusal's status", err)
	}
}

func TestPrimeIsForRiskdUnlessAsked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"-compare"}, true},
		{[]string{"-start", "riskd"}, true},
		{[]string{"-start", "riskd", "-prime=false"}, false},
		{[]string{"-start", "bare"}, false},
		{nil, false}, // -url: someone else's server
		{[]string{"-prime"}, true},
	} {
		c, err := parseConfig(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.prime != tc.want {
			t.Errorf("%q: prime %v, want %v", tc.args, c.prime, tc.want)
		}
	}
	if _, err := parseConfig([]string{"-travel-ips", "0"}, io.Discard); err == nil {
		t.Error("-travel-ips 0 accepted")
	}
}
