package main

import (
	"bufio"
	"bytes"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// serverGoroutines reads go_goroutines from riskd's /metrics on addr; ok is false when it cannot (bare has no
// metrics, or the server is gone).
func serverGoroutines(addr string) (n int, ok bool) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + "/metrics")
	if err := fasthttp.DoTimeout(req, resp, 2*time.Second); err != nil || resp.StatusCode() != fasthttp.StatusOK {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(resp.Body()))
	for sc.Scan() {
		if v, found := bytes.CutPrefix(sc.Bytes(), []byte("go_goroutines ")); found {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			return n, err == nil
		}
	}
	return 0, false
}

// goroutinesSettled is serverGoroutines once the generator's connections are closed and the server has had
// time to end their goroutines: fasthttp's worker pool ends, every 10 s, the workers idle for 10 s, so it polls
// for up to 30 s until the count is back to before. A count that stays above it is a leak (or a goroutine the
// run started on purpose, such as the user-agent parser's).
func goroutinesSettled(d *driver, before int) (int, bool) {
	d.client.CloseIdleConnections()
	n, ok := serverGoroutines(d.addr)
	for deadline := time.Now().Add(30 * time.Second); ok && n > before && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		n, ok = serverGoroutines(d.addr)
	}
	return n, ok
}
