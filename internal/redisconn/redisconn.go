package redisconn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Config is how a client reaches Redis.
type Config struct {
	Addrs []string // host:port, or the absolute path of a Unix socket; seed nodes of a Redis Cluster
	// Username and Password authenticate the client (AUTH): an ACL user, or the password alone for requirepass.
	Username, Password string
	TLS                *tls.Config   // nil: plain TCP
	WriteTimeout       time.Duration // how long a write to a connection may block before it is closed
}

// ErrTLSSocket refuses TLS to a Unix socket: Redis serves TLS on its TCP port only.
var ErrTLSSocket = errors.New("redis: TLS is served on a TCP port only, not on a Unix socket; give host:port, or drop TLS for the local socket")

// isSocket reports whether addr names a Unix socket.
func isSocket(addr string) bool { return strings.HasPrefix(addr, "/") }

// Options returns the client options of cfg, or ErrTLSSocket.
func Options(cfg Config) (rueidis.ClientOption, error) {
	if cfg.TLS != nil && slices.ContainsFunc(cfg.Addrs, isSocket) {
		return rueidis.ClientOption{}, ErrTLSSocket
	}
	return rueidis.ClientOption{
		InitAddress: cfg.Addrs,
		Username:    cfg.Username,
		Password:    cfg.Password,
		TLSConfig:   cfg.TLS,
		// Client-side caching is off: a decision's round trip is paid for the counters anyway, and tracking cost
		// Redis more than the reads it saved (BENCHMARKS.md, "State backends").
		DisableCache: true,
		// RESP2, for the store's reads (see the package comment); riskd uses nothing of RESP3 (no client-side
		// caching, no Pub/Sub).
		AlwaysRESP2:      true,
		Dialer:           net.Dialer{Timeout: time.Second},
		DialCtxFn:        dial,
		ConnWriteTimeout: cfg.WriteTimeout,
		// CLIENT SETINFO only labels the connection; without it the ACL riskd needs is one command shorter.
		ClientSetInfo: rueidis.DisableClientSetInfo,
	}, nil
}

// dial connects to addr: a Unix socket when addr is a path (Options refused TLS there), else TCP, with TLS
// when tc is set.
func dial(ctx context.Context, addr string, d *net.Dialer, tc *tls.Config) (net.Conn, error) {
	switch {
	case isSocket(addr):
		return d.DialContext(ctx, "unix", addr)
	case tc != nil:
		td := tls.Dialer{NetDialer: d, Config: tc}
		return td.DialContext(ctx, "tcp", addr)
	}
	return d.DialContext(ctx, "tcp", addr)
}
