package redisconn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"testing"
)

func TestOptionsRefusesTLSToASocket(t *testing.T) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, c := range []struct {
		addrs []string
		tls   *tls.Config
		want  error
	}{
		{[]string{"/run/redis/redis.sock"}, nil, nil},
		{[]string{"127.0.0.1:6379"}, tc, nil},
		{[]string{"127.0.0.1:6379", "/run/redis/redis.sock"}, tc, ErrTLSSocket},
		{[]string{"/run/redis/redis.sock"}, tc, ErrTLSSocket},
	} {
		o, err := Options(Config{Addrs: c.addrs, TLS: c.tls})
		if !errors.Is(err, c.want) {
			t.Fatalf("%v with TLS %v: %v, want %v", c.addrs, c.tls != nil, err, c.want)
		}
		if err == nil && (o.TLSConfig != c.tls || o.DialCtxFn == nil || !o.DisableCache) {
			t.Fatalf("%v: options %+v", c.addrs, o)
		}
	}
}

// TestDialReachesASocket: a path is dialled as a Unix socket, host:port over TCP.
func TestDialReachesASocket(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		addr := filepath.Join(t.TempDir(), "s.sock")
		if network == "tcp" {
			addr = "127.0.0.1:0"
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.Write([]byte("+PONG\r\n"))
				c.Close()
			}
		}()
		c, err := dial(context.Background(), ln.Addr().String(), &net.Dialer{}, nil)
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		var b [7]byte
		if _, err := c.Read(b[:]); err != nil || string(b[:]) != "+PONG\r\n" || c.RemoteAddr().Network() != network {
			t.Fatalf("%s: read %q %v over %s", network, b, err, c.RemoteAddr().Network())
		}
		c.Close()
	}
}
