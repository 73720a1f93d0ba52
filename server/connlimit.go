package server

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// connLimiter bounds the connections one client address holds open on a listener. fasthttp serves at most
// Config.Concurrency connections at once, and a keep-alive connection holds its slot while idle, so without a
// bound per client one address opening that many idle connections locks every identity server out.
// (fasthttp's own MaxConnsPerIP counts IPv4 addresses only: IPv6 clients would go unbounded.)
//
// A client is an IPv4 address, or an IPv6 /64: one host commonly holds a whole /64, so counting its addresses
// one by one would bound nothing. A connection over the bound is closed as soon as it is accepted, before TLS
// or any byte of HTTP: the listener may be serving TLS, and the refusal must cost nothing.
type connLimiter struct {
	max     int
	mu      sync.Mutex
	open    map[netip.Addr]int // connections held per client; a client with none has no entry
	refused func()             // counts a refusal
	log     func(client netip.Addr)
	lastLog atomic.Int64 // unix seconds of the last refusal logged: at most one a minute
}

func newConnLimiter(max int, refused func(), log func(netip.Addr)) *connLimiter {
	return &connLimiter{max: max, open: map[netip.Addr]int{}, refused: refused, log: log}
}

// clientOf is the key a remote address is counted under: the address itself for IPv4 (IPv4-mapped IPv6
// included), its /64 for IPv6. ok is false for addresses that are not IP (a Unix socket): those are not limited.
func clientOf(addr net.Addr) (client netip.Addr, ok bool) {
	tcp, isTCP := addr.(*net.TCPAddr)
	if !isTCP {
		return netip.Addr{}, false
	}
	ip, isIP := netip.AddrFromSlice(tcp.IP)
	if !isIP {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	if ip.Is6() {
		ip = netip.PrefixFrom(ip.WithZone(""), 64).Masked().Addr()
	}
	return ip, true
}

func (l *connLimiter) acquire(client netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[client] >= l.max {
		return false
	}
	l.open[client]++
	return true
}

func (l *connLimiter) release(client netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.open[client] - 1; n > 0 {
		l.open[client] = n
	} else {
		delete(l.open, client)
	}
}

// wrap returns ln with the limit applied to the connections it accepts.
func (l *connLimiter) wrap(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, limiter: l}
}

type limitedListener struct {
	net.Listener
	limiter *connLimiter
}

func (ln *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client, ok := clientOf(c.RemoteAddr())
		if !ok {
			return c, nil
		}
		l := ln.limiter
		if l.acquire(client) {
			return &limitedConn{Conn: c, limiter: l, client: client}, nil
		}
		c.Close()
		l.refused()
		if now := time.Now().Unix(); l.lastLog.Load() <= now-60 {
			l.lastLog.Store(now)
			l.log(client)
		}
	}
}

// limitedConn gives its client's slot back when closed, once however often Close is called.
type limitedConn struct {
	net.Conn
	limiter *connLimiter
	client  netip.Addr
	closed  atomic.Bool
}

func (c *limitedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.limiter.release(c.client)
	}
	return c.Conn.Close()
}
