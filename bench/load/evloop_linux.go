//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// The event loop is the generator's client on Linux: one goroutine owns every connection as a non-blocking
// socket in one epoll set, sends each request when its time comes and reads the answers as they arrive.
//
// The portable client (fasthttp's, one goroutine per connection) measured itself more than the server: at
// 21-34 k/s on one core its goroutines queued behind one another in Go's run queue, the goroutine holding
// the schedule waited its turn behind hundreds of readers, and requests left in bursts 5-15 ms late. The
// loop sends what is due between any two batches of answers, and spends its time in the kernel rather than
// in the Go scheduler: about a quarter less CPU a request on the 2-core dev machine (BENCHMARKS.md).
const loopClientAvailable = true

// loopConn is one keep-alive connection and the request it carries, if any.
type loopConn struct {
	fd        int // -1: closed, reopened when next needed
	busy      bool
	at, sent  time.Duration // the request in flight: scheduled and actual send offsets
	out       []byte        // request bytes the socket has not taken yet
	in        []byte        // answer bytes read so far
	wantWrite bool          // registered for EPOLLOUT
}

// loop is the state of one run of the event loop.
type loop struct {
	d     *driver
	rec   *Recorder
	start time.Time
	ep    int
	timer int           // timerfd that wakes the loop when the next request is due
	armed time.Duration // offset at which the timer fires; 0: not armed
	sa    syscall.Sockaddr
	conns []loopConn
	idle  []int32 // idle connections, most recently used last: its buffers are still in cache, on both sides
	queue ring    // scheduled offsets waiting for a connection
	rng   *rand.Rand
	body  []byte
	ev    [256]syscall.EpollEvent
	head  []byte // the request line and fixed headers
}

// ring is a FIFO of scheduled offsets with a fixed capacity.
type ring struct {
	buf        []time.Duration
	head, size int
}

func (r *ring) push(at time.Duration) bool {
	if r.size == len(r.buf) {
		return false
	}
	r.buf[(r.head+r.size)%len(r.buf)] = at
	r.size++
	return true
}

func (r *ring) pop() time.Duration {
	at := r.buf[r.head]
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return at
}

const timerTag = -1 // the timerfd's epoll data, to tell it from a connection index

// prepare opens the event loop's connections before the run's clock starts, as fasthttp's pool would have
// them open after the first second: connection set-up is not what a run measures.
func (d *driver) prepare() error {
	if !d.loop || d.ready != nil {
		return nil
	}
	l, err := newLoop(d)
	d.ready = l
	return err
}

func newLoop(d *driver) (_ *loop, err error) {
	l := &loop{d: d, ep: -1, timer: -1, rng: rand.New(rand.NewPCG(d.seed, 1)), body: make([]byte, 0, 1024)}
	defer func() {
		if err != nil {
			l.release()
		}
	}()
	if l.sa, err = sockaddr(d.addr); err != nil {
		return nil, err
	}
	l.head = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n", d.path, d.addr)
	if l.ep, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if l.timer, err = timerfd(); err != nil {
		return nil, err
	}
	if err := l.watch(l.timer, timerTag, syscall.EPOLLIN); err != nil {
		return nil, err
	}
	l.conns = make([]loopConn, d.conns)
	l.idle = make([]int32, 0, d.conns)
	for i := range l.conns {
		l.conns[i] = loopConn{fd: -1, in: make([]byte, 0, 4096), out: make([]byte, 0, 1024)}
		l.idle = append(l.idle, int32(len(l.conns)-1-i)) // connection 0 is used first
	}
	// Each connection serves one GET /healthz before the run: a server that times out a connection's first
	// request (fasthttp after its ReadTimeout, 5 s in riskd) answers 400 to a connection that stayed silent that
	// long, and a request sent just then would get that answer; later requests fall under the idle timeout.
	healthz := fmt.Appendf(nil, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", d.addr)
	for i := range l.conns {
		if err := l.open(int32(i)); err != nil {
			return nil, err
		}
		if err := l.roundTrip(int32(i), healthz); err != nil {
			return nil, fmt.Errorf("GET /healthz before the run: %w", err)
		}
	}
	return l, nil
}

// roundTrip sends req on idle connection c and waits for a 200 answer, outside the run.
func (l *loop) roundTrip(c int32, req []byte) error {
	lc := &l.conns[c]
	lc.out = append(lc.out[:0], req...)
	for len(lc.out) > 0 {
		n, err := syscall.Write(lc.fd, lc.out)
		if err != nil && err != syscall.EAGAIN {
			return err
		}
		lc.out = lc.out[max(n, 0):]
	}
	deadline := time.Now().Add(l.d.timeout)
	lc.in = lc.in[:0]
	for time.Now().Before(deadline) {
		if len(lc.in) == cap(lc.in) {
			lc.in = append(lc.in, 0)[:len(lc.in)]
		}
		n, err := syscall.Read(lc.fd, lc.in[len(lc.in):cap(lc.in)])
		if err == syscall.EAGAIN {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		if err != nil || n == 0 {
			return fmt.Errorf("connection closed before the answer (%v)", err)
		}
		lc.in = lc.in[:len(lc.in)+n]
		status, _, _, complete, err := parseAnswer(lc.in)
		switch {
		case err != nil:
			return err
		case complete && status != 200:
			return fmt.Errorf("status %d", status)
		case complete:
			lc.in = lc.in[:0]
			return nil
		}
	}
	return errors.New("no answer within the request timeout")
}

// release closes the loop's connections, timer and epoll set.
func (l *loop) release() {
	for i := range l.conns {
		l.close(int32(i))
	}
	for _, fd := range []int{l.timer, l.ep} {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}
}

// runLoop plays profile p from start with the event loop, on the connections prepare opened if it was called.
func (d *driver) runLoop(ctx context.Context, p Profile, start time.Time, rec *Recorder) error {
	l := d.ready
	d.ready = nil
	if l == nil {
		var err error
		if l, err = newLoop(d); err != nil {
			return err
		}
	}
	defer l.release()
	l.rec, l.start = rec, start
	// The loop keeps a P of its own, blocked in epoll_wait or not, so that the generator's other goroutines
	// (the stall meter, the CPU sampler, progress) and its timers run beside it rather than after it: on a single
	// P they waited until the Go runtime took the P back from the loop's system call, up to 10 ms later.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if prev := runtime.GOMAXPROCS(0); prev < 2 {
		runtime.GOMAXPROCS(2)
		defer runtime.GOMAXPROCS(prev)
	}
	if p.Closed {
		return l.runClosed(ctx, p)
	}
	return l.runOpen(ctx, p)
}

// runOpen sends on schedule whatever happens to earlier requests; see driver.runOpen for the accounting.
func (l *loop) runOpen(ctx context.Context, p Profile) error {
	l.queue.buf = make([]time.Duration, min(max(1024, int(p.Peak()*l.d.timeout.Seconds()*1.5)), 1<<20))
	sched := newSchedule(p, l.d.poisson, l.d.seed)
	next, more := sched.Next()
	var lastSweep time.Duration
	for {
		now := l.now()
		cancelled := ctx.Err() != nil
		for more && !cancelled && next <= now+dispatchSlack {
			l.rec.Offered(next)
			if !l.queue.push(next) {
				l.rec.Dropped(next)
			}
			next, more = sched.Next()
		}
		if cancelled {
			l.queue.size = 0 // drained unsent, as the portable client does
		}
		for l.queue.size > 0 && len(l.idle) > 0 {
			at := l.queue.pop()
			if now-at > l.d.timeout {
				l.rec.Done(at, now, now, expired)
				continue
			}
			c := l.idle[len(l.idle)-1]
			l.idle = l.idle[:len(l.idle)-1]
			l.send(c, min(at, now), now)
			now = l.now()
		}
		if now-lastSweep >= 10*time.Millisecond {
			l.sweep(now)
			lastSweep = now
		}
		if (!more || cancelled) && l.queue.size == 0 && len(l.idle) == len(l.conns) {
			return nil
		}
		wait := 10 * time.Millisecond
		if more && !cancelled {
			wait = min(wait, next-now-dispatchSlack/2)
		}
		if err := l.poll(wait); err != nil {
			return err
		}
	}
}

// runClosed has every connection send back to back until the profile ends.
func (l *loop) runClosed(ctx context.Context, p Profile) error {
	end := p.Duration()
	var lastSweep time.Duration
	for {
		now := l.now()
		if ctx.Err() == nil && now < end {
			for len(l.idle) > 0 {
				c := l.idle[len(l.idle)-1]
				l.idle = l.idle[:len(l.idle)-1]
				l.rec.Offered(now)
				l.send(c, now, now)
				now = l.now()
			}
		} else if len(l.idle) == len(l.conns) {
			return nil
		}
		if now-lastSweep >= 10*time.Millisecond {
			l.sweep(now)
			lastSweep = now
		}
		if err := l.poll(10 * time.Millisecond); err != nil {
			return err
		}
	}
}

func (l *loop) now() time.Duration { return time.Since(l.start) }

// poll waits up to wait for the timer or for connections, and handles what they report.
func (l *loop) poll(wait time.Duration) error {
	msec := 0
	if wait > 0 {
		// epoll_wait counts in milliseconds: a shorter wait is the timerfd's, armed only when it would not
		// already fire in time.
		msec = int(min((wait+time.Millisecond-1)/time.Millisecond, 10))
		if due := l.now() + wait; wait < 10*time.Millisecond && (l.armed == 0 || due < l.armed) {
			if err := arm(l.timer, wait); err != nil {
				return err
			}
			l.armed = due
		}
	}
	n, err := syscall.EpollWait(l.ep, l.ev[:], msec)
	if err != nil {
		if errors.Is(err, syscall.EINTR) {
			return nil
		}
		return fmt.Errorf("epoll_wait: %w", err)
	}
	for _, e := range l.ev[:n] {
		if e.Fd == timerTag {
			var buf [8]byte
			syscall.Read(l.timer, buf[:]) // the expiration count; the loop only needed waking
			l.armed = 0
			continue
		}
		c := e.Fd
		if e.Events&syscall.EPOLLOUT != 0 {
			l.flush(c)
		}
		if e.Events&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP|syscall.EPOLLRDHUP) != 0 {
			l.receive(c)
		}
	}
	return nil
}

// send writes the request scheduled at at on idle connection c.
func (l *loop) send(c int32, at, now time.Duration) {
	lc := &l.conns[c]
	if lc.fd < 0 {
		if err := l.open(c); err != nil {
			l.rec.Done(at, now, now, transport)
			l.rec.Failed(err.Error())
			l.idle = append(l.idle, c)
			return
		}
	}
	var k eventKind
	l.body, k = l.d.mix.Append(l.body[:0], l.rng)
	l.rec.Built(k)
	lc.out = append(lc.out[:0], l.head...)
	if l.d.stamp {
		lc.out = append(lc.out, "X-Request-Start: "...)
		lc.out = strconv.AppendInt(lc.out, l.start.Add(now).UnixMicro(), 10)
		lc.out = append(lc.out, "\r\n"...)
	}
	lc.out = append(lc.out, "Content-Length: "...)
	lc.out = strconv.AppendInt(lc.out, int64(len(l.body)), 10)
	lc.out = append(lc.out, "\r\n\r\n"...)
	lc.out = append(lc.out, l.body...)
	lc.busy, lc.at, lc.sent, lc.in = true, at, now, lc.in[:0]
	l.flush(c)
}

// flush writes what connection c has not sent yet, asking epoll for writability if the socket is full.
func (l *loop) flush(c int32) {
	lc := &l.conns[c]
	for len(lc.out) > 0 {
		n, err := syscall.Write(lc.fd, lc.out)
		if err == syscall.EAGAIN {
			if !lc.wantWrite {
				lc.wantWrite = true
				l.modify(c, syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLOUT)
			}
			return
		}
		if err != nil {
			l.fail(c, transport, "write: "+err.Error())
			return
		}
		lc.out = lc.out[n:]
	}
	if lc.wantWrite {
		lc.wantWrite = false
		l.modify(c, syscall.EPOLLIN|syscall.EPOLLRDHUP)
	}
}

// receive reads what connection c has and completes its request once the whole answer is in.
func (l *loop) receive(c int32) {
	lc := &l.conns[c]
	for {
		if len(lc.in) == cap(lc.in) {
			lc.in = append(lc.in, 0)[:len(lc.in)]
		}
		n, err := syscall.Read(lc.fd, lc.in[len(lc.in):cap(lc.in)])
		if err == syscall.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			if !lc.busy { // the server closed an idle keep-alive connection: reopen it when next needed
				l.close(c)
				return
			}
			msg := "connection closed before the answer"
			if err != nil {
				msg = "read: " + err.Error()
			}
			l.fail(c, transport, msg)
			return
		}
		lc.in = lc.in[:len(lc.in)+n]
		if !lc.busy {
			l.fail(c, transport, "bytes from the server with no request in flight")
			return
		}
		status, body, closeAfter, complete, perr := parseAnswer(lc.in)
		if perr != nil {
			l.fail(c, transport, perr.Error())
			return
		}
		if !complete {
			continue
		}
		done := l.now()
		o := classify(status, body, nil)
		if o == badStatus {
			l.rec.Failed("status " + strconv.Itoa(status) + ": " + string(body[:min(len(body), 160)]))
		}
		l.rec.Done(lc.at, lc.sent, done, o)
		lc.busy = false
		if closeAfter {
			l.close(c)
		}
		l.idle = append(l.idle, c)
		return
	}
}

// sweep ends the requests that have waited longer than the timeout, closing their connections as fasthttp
// does: an answer arriving later would belong to no request.
func (l *loop) sweep(now time.Duration) {
	for i := range l.conns {
		if lc := &l.conns[i]; lc.busy && now-lc.at > l.d.timeout {
			l.fail(int32(i), timedOut, "timeout")
		}
	}
}

// fail ends connection c's request with outcome o and closes the connection.
func (l *loop) fail(c int32, o outcome, msg string) {
	lc := &l.conns[c]
	if lc.busy {
		l.rec.Done(lc.at, lc.sent, l.now(), o)
		l.rec.Failed(msg)
		lc.busy = false
		l.idle = append(l.idle, c)
	}
	l.close(c)
}

func (l *loop) open(c int32) error {
	lc := &l.conns[c]
	fd, err := dialBlocking(l.sa)
	if err != nil {
		return err
	}
	if err := l.watch(fd, c, syscall.EPOLLIN|syscall.EPOLLRDHUP); err != nil {
		syscall.Close(fd)
		return err
	}
	lc.fd, lc.wantWrite = fd, false
	return nil
}

func (l *loop) close(c int32) {
	if lc := &l.conns[c]; lc.fd >= 0 {
		syscall.Close(lc.fd) // also leaves the epoll set
		lc.fd, lc.out, lc.in = -1, lc.out[:0], lc.in[:0]
	}
}

func (l *loop) watch(fd int, tag int32, events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: tag}
	if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

func (l *loop) modify(c int32, events uint32) {
	ev := syscall.EpollEvent{Events: events, Fd: c}
	if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_MOD, l.conns[c].fd, &ev); err != nil {
		l.fail(c, transport, "epoll_ctl: "+err.Error())
	}
}

// dialBlocking connects a TCP socket to sa (a loopback address: connecting takes microseconds) and leaves it
// non-blocking, with Nagle's algorithm off as Go's own sockets have it.
func dialBlocking(sa syscall.Sockaddr) (int, error) {
	family := syscall.AF_INET
	if _, ok := sa.(*syscall.SockaddrInet6); ok {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("setsockopt: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("set non-blocking: %w", err)
	}
	return fd, nil
}

// sockaddr resolves a loopback host:port (parseTarget admits no other).
func sockaddr(addr string) (syscall.Sockaddr, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", port, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip4 := ip.To4(); ip4 != nil {
		sa := &syscall.SockaddrInet4{Port: p}
		copy(sa.Addr[:], ip4)
		return sa, nil
	}
	if ip != nil {
		sa := &syscall.SockaddrInet6{Port: p}
		copy(sa.Addr[:], ip)
		return sa, nil
	}
	return nil, fmt.Errorf("host %q: not an IP address", host)
}

func timerfd() (int, error) {
	const clockMonotonic = 1
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return -1, fmt.Errorf("timerfd_create: %w", errno)
	}
	return int(fd), nil
}

// arm makes timer fire once, d from now.
func arm(timer int, d time.Duration) error {
	spec := itimerspec{value: syscall.NsecToTimespec(int64(max(d, time.Microsecond)))}
	if _, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, uintptr(timer), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
		return fmt.Errorf("timerfd_settime: %w", errno)
	}
	return nil
}

// parseAnswer reads an HTTP/1.1 answer from the start of b: its status, its body once complete, and whether
// the server will close the connection after it. The servers under test send a Content-Length with every
// answer; one without is reported as an error rather than guessed at.
func parseAnswer(b []byte) (status int, body []byte, closeAfter, complete bool, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > 64<<10 {
			return 0, nil, false, false, errors.New("answer headers over 64 KiB")
		}
		return 0, nil, false, false, nil
	}
	head := b[:end]
	if len(head) < 12 || !bytes.HasPrefix(head, []byte("HTTP/1.")) || head[8] != ' ' {
		return 0, nil, false, false, fmt.Errorf("malformed status line %q", head[:min(len(head), 40)])
	}
	status, ok := digits(head[9:12])
	if !ok {
		return 0, nil, false, false, fmt.Errorf("malformed status line %q", head[:min(len(head), 40)])
	}
	length := -1
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, ok = digits(value); !ok {
				return 0, nil, false, false, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			closeAfter = bytes.EqualFold(value, []byte("close"))
		}
	}
	if length < 0 {
		return 0, nil, false, false, errors.New("answer without Content-Length")
	}
	start := end + 4
	switch {
	case len(b) < start+length:
		return status, nil, closeAfter, false, nil
	case len(b) > start+length:
		return 0, nil, false, false, errors.New("bytes after the answer, with no request pipelined")
	}
	return status, b[start : start+length], closeAfter, true, nil
}

// digits parses a non-negative decimal number of at most 9 digits.
func digits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
