package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// driver sends the requests of a profile to one server and records their outcomes.
type driver struct {
	client  *fasthttp.HostClient
	addr    string // host:port
	path    string
	mix     *Mix
	timeout time.Duration // per request, from the scheduled send time
	conns   int           // connections, and so requests in flight at most
	poisson bool          // Poisson arrivals rather than evenly spaced ones
	seed    uint64
	stamp   bool  // send X-Request-Start with the time each request left the generator
	loop    bool  // use the event loop (evloop_linux.go) where there is one, instead of fasthttp's client
	ready   *loop // the event loop's connections, opened by prepare before a run
}

// parseTarget splits the target URL. The generator drives only loopback servers: it exists to benchmark
// riskd on the developer's machine, not to load anyone else's.
func parseTarget(raw string) (addr, path string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", err
	}
	if u.Scheme != "http" || u.Host == "" {
		return "", "", fmt.Errorf("target %q: want http://HOST:PORT/PATH", raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", "", fmt.Errorf("target %q: only loopback addresses", raw)
	}
	path = u.RequestURI()
	if u.Path == "" {
		path = "/v1/decide"
	}
	return net.JoinHostPort(host, port), path, nil
}

func newDriver(addr, path string, mix *Mix, conns int, timeout time.Duration, poisson bool, seed uint64) *driver {
	return &driver{
		client: &fasthttp.HostClient{
			Addr:                addr,
			MaxConns:            conns,
			ReadTimeout:         timeout,
			WriteTimeout:        timeout,
			MaxConnWaitTimeout:  timeout,
			MaxIdleConnDuration: time.Minute,
			// The most recently used connection is the one whose buffers are still in cache, on both sides.
			ConnPoolStrategy:              fasthttp.LIFO,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
		},
		addr: addr, path: path, mix: mix, timeout: timeout, conns: conns, poisson: poisson, seed: seed, stamp: true,
	}
}

// run plays profile p from start, recording into rec, and returns when every request has ended. Cancelling
// ctx stops scheduling; requests in flight still end within the timeout.
func (d *driver) run(ctx context.Context, p Profile, start time.Time, rec *Recorder) error {
	if d.loop && loopClientAvailable {
		return d.runLoop(ctx, p, start, rec)
	}
	if p.Closed {
		d.runClosed(ctx, p, start, rec)
		return nil
	}
	return d.runOpen(ctx, p, start, rec)
}

// dispatchSlack is how early the open-loop scheduler may hand out a request rather than sleep until it is due.
const dispatchSlack = 100 * time.Microsecond

// runOpen sends on schedule whatever happens to earlier requests. Requests wait in a bounded backlog for a
// free connection; their latency counts from the scheduled time, so waiting there is charged as it would be
// to a real client. A request that cannot even enter the backlog is counted as dropped.
func (d *driver) runOpen(ctx context.Context, p Profile, start time.Time, rec *Recorder) error {
	backlog := min(max(1024, int(p.Peak()*d.timeout.Seconds()*1.5)), 1<<20)
	jobs := make(chan time.Duration, backlog)
	var wg sync.WaitGroup
	for i := range d.conns {
		w := d.newWorker(i, rec)
		wg.Go(func() {
			defer w.release()
			for at := range jobs {
				if ctx.Err() == nil { // once cancelled, the backlog is drained unsent
					w.sendScheduled(start, at)
				}
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)

	sl, err := newSleeper()
	if err != nil {
		return err
	}
	defer sl.Close()
	sched := newSchedule(p, d.poisson, d.seed)
	for {
		at, ok := sched.Next()
		if !ok || ctx.Err() != nil {
			return nil
		}
		// Sleeping costs a timer and a wake-up of about 50 µs; a request due sooner than dispatchSlack is sent
		// now. Its latency then counts from the actual send (see sendScheduled), so sending early hides nothing.
		if wait := at - time.Since(start); wait > dispatchSlack {
			if err := sl.Sleep(wait - dispatchSlack/2); err != nil {
				return err
			}
		}
		rec.Offered(at)
		select {
		case jobs <- at:
		default:
			rec.Dropped(at)
		}
	}
}

// runClosed has every connection send back to back until the profile ends: the most the server answers.
func (d *driver) runClosed(ctx context.Context, p Profile, start time.Time, rec *Recorder) {
	end := p.Duration()
	var wg sync.WaitGroup
	for i := range d.conns {
		w := d.newWorker(i, rec)
		wg.Go(func() {
			defer w.release()
			for ctx.Err() == nil {
				at := time.Since(start)
				if at >= end {
					return
				}
				rec.Offered(at)
				w.stampQueued(start, at)
				o := w.send()
				rec.Done(at, at, time.Since(start), o)
			}
		})
	}
	wg.Wait()
}

// worker owns one request and response, a body buffer and a random source: nothing is allocated per request.
type worker struct {
	d    *driver
	rec  *Recorder
	req  *fasthttp.Request
	resp *fasthttp.Response
	body []byte
	hdr  []byte // the X-Request-Start value
	rng  *rand.Rand
}

func (d *driver) newWorker(i int, rec *Recorder) *worker {
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(d.path)
	req.Header.SetHost(d.addr)
	req.Header.SetContentType("application/json")
	return &worker{d: d, rec: rec, req: req, resp: fasthttp.AcquireResponse(), body: make([]byte, 0, 1024),
		rng: rand.New(rand.NewPCG(d.seed, uint64(i)+1))}
}

// release returns the request and response to fasthttp's pools; the worker must not be used afterwards.
func (w *worker) release() {
	fasthttp.ReleaseRequest(w.req)
	fasthttp.ReleaseResponse(w.resp)
}

// sendScheduled sends the request scheduled at offset at, unless it already waited longer than the timeout.
// A request handed out up to dispatchSlack early is sent at once but timed as if scheduled when it was sent.
func (w *worker) sendScheduled(start time.Time, at time.Duration) {
	sent := time.Since(start)
	if sent-at > w.d.timeout {
		w.rec.Done(at, sent, sent, expired)
		return
	}
	w.stampQueued(start, sent)
	o := w.send()
	w.rec.Done(min(at, sent), sent, time.Since(start), o)
}

// stampQueued tells the server when the request left the caller, as a load balancer stamps a request when it
// receives it: riskd's --queue-budget sheds requests that then waited too long before reaching it. The time
// a late request spent in the generator's own schedule is not the server's queue, and is not stamped.
func (w *worker) stampQueued(start time.Time, at time.Duration) {
	if !w.d.stamp {
		w.req.Header.Del("X-Request-Start")
		return
	}
	w.hdr = strconv.AppendInt(w.hdr[:0], start.Add(at).UnixMicro(), 10)
	w.req.Header.SetBytesV("X-Request-Start", w.hdr)
}

// send sends one request from the mix and classifies the answer.
func (w *worker) send() outcome {
	var k eventKind
	w.body, k = w.d.mix.Append(w.body[:0], w.rng)
	w.rec.Built(k)
	w.req.SetBody(w.body)
	err := w.d.client.Do(w.req, w.resp)
	o := classify(w.resp.StatusCode(), w.resp.Body(), err)
	switch o {
	case timedOut, transport:
		w.rec.Failed(err.Error())
	case badStatus:
		b := w.resp.Body()
		w.rec.Failed("status " + strconv.Itoa(w.resp.StatusCode()) + ": " + string(b[:min(len(b), 160)]))
	}
	return o
}

// failPolicy is the reason code of a decision the server made without deciding, under overload: it counts as
// shed, not as an answer.
const failPolicy = `"fail_policy"`

func classify(status int, body []byte, err error) outcome {
	if err != nil {
		var ne net.Error
		if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return timedOut
		}
		return transport
	}
	switch {
	case status == fasthttp.StatusTooManyRequests || status == fasthttp.StatusServiceUnavailable:
		return shed
	case status >= 200 && status < 300:
		if bytes.Contains(body, []byte(failPolicy)) {
			return shed
		}
		return accepted
	default:
		return badStatus
	}
}
