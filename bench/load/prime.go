package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// primeConns is how many connections the priming sweep sends over: enough to keep one core busy, few
// enough that nothing waits in riskd's queue long enough to matter (the sweep is unstamped and never shed).
const primeConns = 64

// primeResult is what the priming sweep did.
type primeResult struct {
	sent int
	took time.Duration
}

func (r primeResult) String() string {
	return fmt.Sprintf("primed the server's state with %s requests in %.1f s (one per key of the mix's populations)",
		thousands(uint64(r.sent)), r.took.Seconds())
}

// prime sends the mix's priming sweep (Mix.AppendPrime) to addr and path, closed loop over primeConns
// connections, before anything is measured: every user, address and device the mix will send then has its
// records in the server's tables, so the measurements see a server whose state is at its steady size, as a
// server that has run for a while is, and memory growth in them is the server's own. Any answer other than
// 200 is an error: the sweep must have reached the state.
func prime(ctx context.Context, addr, path string, m *Mix, timeout time.Duration) (primeResult, error) {
	client := &fasthttp.HostClient{Addr: addr, MaxConns: primeConns, ReadTimeout: timeout, WriteTimeout: timeout,
		MaxConnWaitTimeout: timeout, NoDefaultUserAgentHeader: true, DisableHeaderNamesNormalizing: true}
	defer client.CloseIdleConnections()
	began := time.Now()
	n := m.PrimeLen()
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range primeConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.Header.SetMethod(fasthttp.MethodPost)
			req.SetRequestURI(path)
			req.Header.SetHost(addr)
			req.Header.SetContentType("application/json")
			body := make([]byte, 0, 1024)
			for ctx.Err() == nil && failed.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				body = m.AppendPrime(body[:0], i)
				req.SetBody(body)
				err := client.Do(req, resp)
				if err == nil && resp.StatusCode() != fasthttp.StatusOK {
					b := resp.Body()
					err = fmt.Errorf("status %d: %s", resp.StatusCode(), b[:min(len(b), 160)])
				}
				if err != nil {
					err = fmt.Errorf("priming request %d (%s): %w", i, body, err)
					failed.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	res := primeResult{sent: min(int(next.Load()), n), took: time.Since(began)}
	if p := failed.Load(); p != nil {
		return res, *p
	}
	return res, ctx.Err()
}

// primeServer primes the server at addr with the mix c's flags describe, unless -prime=false, and says so on
// progress.
func (c config) primeServer(ctx context.Context, addr, path string, ua *uaTable, progress io.Writer) error {
	if !c.prime {
		return nil
	}
	m, err := newMix(c.mixFor(), ua)
	if err != nil {
		return err
	}
	res, err := prime(ctx, addr, path, m, c.timeout)
	if progress != nil {
		fmt.Fprintln(progress, res)
	}
	if err != nil {
		return fmt.Errorf("priming %s: %w", addr, err)
	}
	return nil
}
