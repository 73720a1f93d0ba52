//go:build linux

package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseAnswer(t *testing.T) {
	cases := []struct {
		name, in         string
		status           int
		body             string
		closeAfter, done bool
		err              string
	}{
		{name: "complete", in: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"decision\":\"ok\"}",
			status: 200, body: `{"decision":"ok"}`, done: true},
		{name: "header names in any case", in: "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\nCONNECTION: Close\r\n\r\n{}",
			status: 503, body: "{}", closeAfter: true, done: true},
		{name: "empty body", in: "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n", status: 429, done: true},
		{name: "headers not all in", in: "HTTP/1.1 200 OK\r\nContent-Len"},
		{name: "body not all in", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", status: 200},
		{name: "no length", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", err: "without Content-Length"},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: "malformed Content-Length"},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH_9.6\r\n\r\n", err: "malformed status line"},
		{name: "bad status", in: "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", err: "malformed status line"},
		{name: "more than one answer", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1", err: "bytes after the answer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body, closeAfter, done, err := parseAnswer([]byte(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if done != c.done || done && (status != c.status || string(body) != c.body || closeAfter != c.closeAfter) {
				t.Errorf("= %d %q close %v done %v, want %d %q close %v done %v",
					status, body, closeAfter, done, c.status, c.body, c.closeAfter, c.done)
			}
		})
	}
}

// rawServer accepts connections on a loopback port and gives each to handle.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// answerEach reads requests from c and answers each POST with what answer returns for it (the n-th, from 0)
// until answer returns "" (then closes the connection), "-" (then reads on without answering) or c fails.
// GET /healthz is answered 200.
func answerEach(answer func(n int, r *http.Request) string) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		for n := 0; ; {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, r.Body)
			if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
				continue
			}
			a := answer(n, r)
			n++
			switch a {
			case "":
				return
			case "-":
				io.Copy(io.Discard, br)
				return
			}
			if _, err := io.WriteString(c, a); err != nil {
				return
			}
		}
	}
}

func runLoopClient(t *testing.T, addr string, conns int, timeout time.Duration, p Profile) runResult {
	t.Helper()
	d := newDriver(addr, "/v1/decide", smallMix(t), conns, timeout, true, 5)
	d.loop = true
	res, err := measure(context.Background(), d, p, 0, "test", 50*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestLoopClientCountsEveryOutcome has the event loop meet servers that shed, stamp, close connections, break
// the protocol and never answer: every request ends exactly once, as the outcome it had.
func TestLoopClientCountsEveryOutcome(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"decision\":\"allow\"}"
	steady := steadyProfile(400, 500*time.Millisecond)

	t.Run("stamped, shed, fail policy", func(t *testing.T) {
		addr := rawServer(t, answerEach(func(n int, r *http.Request) string {
			if r.Header.Get("X-Request-Start") == "" || r.Header.Get("Content-Type") != "application/json" {
				return "HTTP/1.1 400 Bad Request\r\nContent-Length: 9\r\n\r\nno stamp!"
			}
			switch n % 3 {
			case 1:
				return "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
			case 2:
				return "HTTP/1.1 200 OK\r\nContent-Length: 28\r\n\r\n{\"reasons\":[\"fail_policy\"]}\n"
			}
			return ok
		}))
		tot := runLoopClient(t, addr, 1, 5*time.Second, steady).Total
		if tot.Errors != 0 || tot.Accepted+tot.Shed != tot.Offered || tot.Shed < tot.Offered/2 || tot.Accepted < tot.Offered/4 {
			t.Fatalf("%+v", tot)
		}
	})

	t.Run("connections closed without an answer", func(t *testing.T) {
		addr := rawServer(t, answerEach(func(n int, _ *http.Request) string {
			if n == 1 {
				return "" // the second request on each connection is lost with the connection
			}
			return ok
		}))
		res := runLoopClient(t, addr, 4, 5*time.Second, steady)
		tot := res.Total
		if tot.Errors == 0 || tot.Accepted == 0 || tot.Accepted+tot.Errors != tot.Offered {
			t.Fatalf("%+v", tot)
		}
		if len(res.Failures) == 0 || !strings.Contains(res.Failures[0], "connection closed before the answer") {
			t.Errorf("failures %q", res.Failures)
		}
	})

	t.Run("not HTTP", func(t *testing.T) {
		addr := rawServer(t, answerEach(func(int, *http.Request) string { return "garbage\r\n\r\n" }))
		res := runLoopClient(t, addr, 2, 5*time.Second, steadyProfile(100, 200*time.Millisecond))
		if tot := res.Total; tot.Errors != tot.Offered || tot.Offered == 0 {
			t.Fatalf("%+v", tot)
		}
		if !strings.Contains(strings.Join(res.Failures, " "), "malformed status line") {
			t.Errorf("failures %q", res.Failures)
		}
	})

	t.Run("no answer within the timeout", func(t *testing.T) {
		addr := rawServer(t, answerEach(func(int, *http.Request) string { return "-" }))
		start := time.Now()
		res := runLoopClient(t, addr, 8, 100*time.Millisecond, steadyProfile(100, 200*time.Millisecond))
		tot := res.Total
		// Eight connections carry eight requests at a time; the rest wait for one to time out, and some expire
		// in the backlog.
		if tot.Accepted != 0 || tot.Errors != tot.Offered || tot.Timeouts != tot.Offered || tot.Offered < 10 {
			t.Fatalf("%+v; failures %q", tot, res.Failures)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("the run took %v: timed-out requests were not ended", el)
		}
	})
}
