package server

import "github.com/valyala/fasthttp"

// bodyLimit is fasthttp's HeaderReceived hook: once a request's header is in, it picks how much body fasthttp
// may read. A rule file (rules/default.yaml is 18 KiB) or a list needs more than a decision ever does, but
// reading a large body costs memory before any handler runs, so the admin limit (Config.MaxAdminBodyBytes)
// applies only to an admin route asked by a caller holding an admin or read key, or a console session of one
// (anyone, when riskd runs without keys); every other request, /v1/decide and /v1/events first, keeps the
// server's MaxBodyBytes. A key is checked here and again by the handler; the check is a SHA-256 and a few
// compares, on admin routes only.
func (s *Server) bodyLimit(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if !isAdminTarget(h.RequestURI()) {
		return fasthttp.RequestConfig{} // the server's MaxRequestBodySize: MaxBodyBytes
	}
	if keys := s.keys.Load(); keys.Len() > 0 {
		key := keys.authenticate(h)
		if key == nil { // the console's session: its key's scopes (its CSRF token is checked with the request)
			if sess, ok := s.sessions.lookup(h.Cookie(sessionCookie)); ok {
				key = keyBySum(keys, sess.keyHash)
			}
		}
		if key == nil || key.Scopes&(ScopeAdmin|ScopeRead) == 0 {
			return fasthttp.RequestConfig{}
		}
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: s.cfg.MaxAdminBodyBytes}
}

// isAdminTarget reports whether a request target (origin form, as proxies and clients send it) is an admin
// route's: those whose requests carry admin bodies.
func isAdminTarget(uri []byte) bool {
	for _, p := range [...]string{"/v1/rules", "/v1/lists", "/v1/exceptions", "/v1/users/"} {
		if len(uri) >= len(p) && string(uri[:len(p)]) == p {
			return true
		}
	}
	return false
}
