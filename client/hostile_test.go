package client_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/client"
)

// hostile is a server that misbehaves in one way, counting the requests it reads.
type hostile struct {
	addr     string
	requests atomic.Int64
	done     chan struct{} // closed at the end of the test: stalled handlers return
}

// answer is how a hostile server answers one request read from conn; it returns whether to read the next
// request on the same connection.
type answer func(h *hostile, conn net.Conn) bool

func startHostile(t *testing.T, answer answer) *hostile {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostile{addr: ln.Addr().String(), done: make(chan struct{})}
	doneCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(h.done)
		cancel()
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				stop := context.AfterFunc(doneCtx, func() { conn.Close() }) // unblock a read on a kept-alive connection
				defer stop()
				br := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					h.requests.Add(1)
					if !answer(h, conn) {
						return
					}
				}
			}()
		}
	}()
	return h
}

func stall(h *hostile, _ net.Conn) bool {
	<-h.done
	return false
}

func reset(_ *hostile, conn net.Conn) bool {
	conn.(*net.TCPConn).SetLinger(0) // close with RST
	return false
}

func raw(s string) answer {
	return func(_ *hostile, conn net.Conn) bool {
		io.WriteString(conn, s)
		return false
	}
}

func status(code int, header, body string) answer {
	return func(_ *hostile, conn net.Conn) bool {
		fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s",
			code, http.StatusText(code), header, len(body), body)
		return true // keep-alive: a second decision may come on this connection
	}
}

// headerThenStall sends a 200 header and part of the body, then nothing.
func headerThenStall(h *hostile, conn net.Conn) bool {
	io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"decision\":\"deny\",")
	<-h.done
	return false
}

const timeout = 100 * time.Millisecond

// TestDecideFallsBackOnHostileServers: whatever the server does wrong, Decide answers the fail policy's
// decision for the event type, marked as a fallback with the reason fail_policy, within the timeout plus 50 ms,
// after exactly one request per decision (never a retry).
func TestDecideFallsBackOnHostileServers(t *testing.T) {
	cases := []struct {
		name   string
		answer answer
	}{
		{"stalls after reading the request", stall},
		{"resets the connection", reset},
		{"answers an HTML page", raw("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 24\r\n\r\n<html>It works!</html>\r\n")},
		{"answers truncated JSON", raw("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 90\r\n\r\n{\"decision\":\"allow\",\"sco")},
		{"answers JSON of another API", status(200, "", `{"result":"ok"}`)},
		{"answers a decision riskd does not have", status(200, "", `{"decision":"maybe","score":0,"reasons":[],"evaluation_id":"0000000000000001","rules_version":"x","took_us":1}`)},
		{"answers not HTTP", raw("SSH-2.0-OpenSSH_9.6\r\n")},
		{"answers 503 with Retry-After", status(503, "Retry-After: 1\r\n", `{"error":{"code":"overloaded","message":"riskd is overloaded"}}`)},
		{"answers 500", status(500, "", `{"error":{"code":"internal","message":"internal error"}}`)},
		{"answers 502 from a proxy", status(502, "", `<html>Bad Gateway</html>`)},
		{"sends the header, then stalls the body", headerThenStall},
	}
	// Warm up: the first timed-out call of a process runs code (timers, cancellation, the transport's
	// teardown) for the first time, and on a machine busy with builds its pages can take tens of milliseconds
	// to load from disk. The bound is the client's, measured on a warm process.
	warm := startHostile(t, stall)
	fallbackClient(t, "http://"+warm.addr).Decide(context.Background(), &client.DecideRequest{Type: client.Login, UserID: "u", IP: "192.0.2.1"})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := startHostile(t, tc.answer)
			c := fallbackClient(t, "http://"+h.addr)
			checkFallbacks(t, c)
			// A server slower than the timeout may read a request after the client gave up on it: wait a little
			// for the count to settle. A retry would read a third.
			for deadline := time.Now().Add(300 * time.Millisecond); h.requests.Load() < 2 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			if n := h.requests.Load(); n < 1 || n > 2 {
				t.Fatalf("the server read %d requests for 2 decisions; want 2 (no retry)", n)
			}
		})
	}
	t.Run("refuses the connection", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		checkFallbacks(t, fallbackClient(t, "http://"+addr))
	})
	t.Run("never accepts", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0") // the kernel completes handshakes into the backlog
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		checkFallbacks(t, fallbackClient(t, "http://"+ln.Addr().String()))
	})
}

func fallbackClient(t *testing.T, base string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{BaseURL: base, Timeout: timeout,
		FailPolicy: map[client.EventType]client.Action{client.Checkout: client.Deny}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// checkFallbacks decides a login and a checkout and checks both are the fail policy's, in time.
func checkFallbacks(t *testing.T, c *client.Client) {
	t.Helper()
	for _, want := range []struct {
		typ    client.EventType
		action client.Action
	}{{client.Login, client.Allow}, {client.Checkout, client.Deny}} {
		var d client.Decision
		var err error
		var took time.Duration
		stalled := stallDuring(func() {
			start := time.Now()
			d, err = c.Decide(context.Background(), &client.DecideRequest{Type: want.typ, UserID: "u", IP: "192.0.2.1"})
			took = time.Since(start)
		})
		if err != nil {
			t.Fatalf("%s: error %v; a failing server is not the caller's error", want.typ, err)
		}
		if !d.Fallback || d.Decision != want.action || len(d.Reasons) != 1 || d.Reasons[0].Code != client.CodeFailPolicy || d.Cause == nil {
			t.Fatalf("%s: %+v; want the fail policy's %s, marked as a fallback with the reason fail_policy and a cause", want.typ, d, want.action)
		}
		if bound := timeout + 50*time.Millisecond + stalled; took > bound {
			t.Fatalf("%s: the fallback came after %v; want within %v (timeout + 50 ms + %v the process was not run)",
				want.typ, took, bound, stalled)
		}
		t.Logf("%s: %s after %v, the process stalled %v (%v)", want.typ, d.Decision, took.Round(time.Millisecond),
			stalled.Round(time.Millisecond), d.Cause)
	}
}

// stallDuring runs f and returns the longest time during it that a goroutine waking every millisecond was
// not run beyond its millisecond. The fallback's bound is the client's: on a machine that stops the whole
// process (a shared CPU, the race detector's pauses), no timer can fire sooner than the process runs again. On
// this project's shared 2-core machine a plain 100 ms timer measured up to 100 ms late under load.
func stallDuring(f func()) time.Duration {
	stop := make(chan struct{})
	worst := make(chan time.Duration, 1)
	go func() {
		var max time.Duration
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-stop:
				worst <- max
				return
			case <-tick.C:
				now := time.Now() // not the tick's time, which is when it was due, however late it is read
				if gap := now.Sub(last) - time.Millisecond; gap > max {
					max = gap
				}
				last = now
			}
		}
	}()
	f()
	close(stop)
	return <-worst
}

// TestDecideHonoursTheCallersDeadline: a context deadline shorter than the timeout wins.
func TestDecideHonoursTheCallersDeadline(t *testing.T) {
	h := startHostile(t, stall)
	c, err := client.New(client.Config{BaseURL: "http://" + h.addr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	var d client.Decision
	var took time.Duration
	stalled := stallDuring(func() {
		start := time.Now()
		d, _ = c.Decide(ctx, &client.DecideRequest{Type: client.PasswordReset, UserID: "u", IP: "192.0.2.1"})
		took = time.Since(start)
	})
	if took > 80*time.Millisecond+stalled || !d.Fallback || d.Decision != client.StepUp {
		t.Fatalf("after %v (the process stalled %v): %+v; want the fail policy's step_up within the caller's 30 ms + 50 ms", took, stalled, d)
	}
}

// TestRiskdsOwnFallbackIsMarked: riskd answering its fail-policy decision itself (overloaded, --shed fallback)
// reads as a fallback too, without a cause on the client's side.
func TestRiskdsOwnFallbackIsMarked(t *testing.T) {
	h := startHostile(t, status(200, "", `{"decision":"allow","score":0,"reasons":[{"code":"fail_policy","rule":"","message":"riskd is overloaded","score":0}],"evaluation_id":"00000000000000a1","rules_version":"v1","took_us":3}`))
	c := fallbackClient(t, "http://"+h.addr)
	d, err := c.Decide(context.Background(), &client.DecideRequest{Type: client.Login, UserID: "u", IP: "192.0.2.1"})
	if err != nil || !d.Fallback || d.Cause != nil || d.Decision != client.Allow || d.EvaluationID != "00000000000000a1" {
		t.Fatalf("%+v, %v; want riskd's fallback, marked, without a cause", d, err)
	}
}
