package server

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// checkHost applies errMisdirectedHost. A request without a Host (HTTP/1.0, an in-process caller) passes: a
// browser always sends one. The check reads the Host header and, for an absolute request target, its host.
func (s *Server) checkHost(ctx *fasthttp.RequestCtx) *apiError {
	if s.keys.Load().Len() > 0 {
		return nil // a caller must hold a key, which a web page does not
	}
	if h := ctx.Request.Header.Host(); len(h) > 0 && !isLoopbackHost(h) {
		return errMisdirectedHost
	}
	if h := ctx.URI().Host(); len(h) > 0 && !isLoopbackHost(h) {
		return errMisdirectedHost
	}
	return nil
}

// isLoopbackHost reports whether a Host value (a name or address and an optional port) names this machine
// without DNS: localhost, a dotted-decimal 127.0.0.0/8 address or [::1], as browsers write them.
func isLoopbackHost(h []byte) bool {
	host := h
	if len(h) > 0 && h[0] == '[' {
		end := bytes.IndexByte(h, ']')
		if end < 0 || !isPort(h[end+1:]) {
			return false
		}
		return string(h[:end+1]) == "[::1]"
	}
	if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		if !isPort(h[i:]) {
			return false
		}
		host = h[:i]
	}
	return bytes.EqualFold(host, []byte("localhost")) || isLoopbackIPv4(host)
}

// isPort reports whether p is empty or a colon and 1 to 5 digits.
func isPort(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if p[0] != ':' || len(p) < 2 || len(p) > 6 {
		return false
	}
	for _, c := range p[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isLoopbackIPv4 reports whether b is four dotted decimal octets, the first 127.
func isLoopbackIPv4(b []byte) bool {
	var octets [4]int
	n, digits := 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9' && digits < 3:
			octets[n] = octets[n]*10 + int(c-'0')
			digits++
		case c == '.' && digits > 0 && n < 3:
			n++
			digits = 0
		default:
			return false
		}
	}
	if n != 3 || digits == 0 || octets[0] != 127 {
		return false
	}
	for _, o := range octets {
		if o > 255 {
			return false
		}
	}
	return true
}
