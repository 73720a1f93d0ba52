package server

import (
	"crypto/sha256"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/console"
)

// consolePrefix is where the console is served, on the admin listener (or the main one when there is none).
const consolePrefix = "/console/"

// consoleCSP lets the console's pages run only the console's own files: no inline script or style, nothing from
// another origin, no framing, no form posted elsewhere. Charts are SVG elements built by the script.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// setConsoleHeaders sets the headers of every console response: its pages and its session endpoint.
func setConsoleHeaders(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set(fasthttp.HeaderCacheControl, "no-store")
}

// handleConsole serves the console's files and its session endpoint, /console/api/session. raw is the raw path.
func (s *Server) handleConsole(ctx *fasthttp.RequestCtx, raw string) {
	setConsoleHeaders(ctx)
	if raw == "/console" {
		ctx.Response.Header.Set(fasthttp.HeaderLocation, consolePrefix)
		ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
		return
	}
	name := raw[len(consolePrefix):]
	if name == "api/session" {
		s.handleSession(ctx)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		writeError(ctx, methodNotAllowed("GET"))
		return
	}
	if name == "" {
		name = "index.html"
	}
	// Only plain names of the embedded tree: fs.ValidPath refuses "..", empty and rooted elements.
	if !fs.ValidPath(name) || strings.Contains(name, "%") {
		writeError(ctx, errNotFound)
		return
	}
	data, err := fs.ReadFile(console.Assets(), name)
	if err != nil {
		writeError(ctx, errNotFound)
		return
	}
	ctx.SetContentType(consoleType(name))
	ctx.SetBody(data)
}

// consoleType is the Content-Type of a console file, by its extension (never sniffed: see nosniff).
func consoleType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// sessionView is what GET and POST /console/api/session answer: who is signed in, what they may do, and the
// CSRF token the console's script sends with every change.
type sessionView struct {
	Name    string   `json:"name"`
	Scopes  []string `json:"scopes"`
	CSRF    string   `json:"csrf_token"`
	Expires string   `json:"expires,omitempty"`
	// Open is true when riskd runs without keys (loopback only): the console needs no sign-in, as the API needs
	// no key.
	Open bool `json:"open,omitempty"`
}

func scopeNames(sc Scope) []string {
	var out []string
	for _, n := range [...]string{"decide", "explain", "admin", "metrics", "read"} {
		if v, _ := parseScope(n); sc&v != 0 {
			out = append(out, n)
		}
	}
	return out
}

// handleSession serves /console/api/session: POST {"key": "..."} signs in (a cookie), GET says who is signed
// in (and gives the CSRF token again after a reload), DELETE signs out.
func (s *Server) handleSession(ctx *fasthttp.RequestCtx) {
	keys := s.keys.Load()
	open := keys.Len() == 0
	switch {
	case open && (ctx.IsGet() || ctx.IsPost()):
		// Without keys the API serves everyone on loopback; the console does the same, without a cookie.
		writeJSON(ctx, sessionView{Name: caller{}.name(), Scopes: []string{"admin"}, Open: true})
	case open && ctx.IsDelete():
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	case ctx.IsGet():
		cookie := ctx.Request.Header.Cookie(sessionCookie)
		sess, ok := s.sessions.lookup(cookie)
		var key *Key
		if ok {
			key = keyBySum(keys, sess.keyHash)
		}
		if key == nil {
			writeError(ctx, errUnauthenticated)
			return
		}
		writeJSON(ctx, sessionView{Name: key.Name, Scopes: scopeNames(key.Scopes), CSRF: sess.csrf,
			Expires: sess.expires.UTC().Format(time.RFC3339)})
	case ctx.IsPost():
		s.signIn(ctx, keys)
	case ctx.IsDelete():
		// Signing out is a change: with the cookie, it takes the CSRF token like any other.
		cookie := ctx.Request.Header.Cookie(sessionCookie)
		if _, err := s.sessionKey(ctx, keys); err != nil {
			writeError(ctx, err)
			return
		}
		if len(cookie) > 0 {
			s.sessions.close(cookie)
		}
		s.setSessionCookie(ctx, "", -1)
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	default:
		writeError(ctx, methodNotAllowed("GET, POST, DELETE"))
	}
}

// signIn exchanges the API key in a JSON body for a session cookie. JSON only: a cross-site form cannot sign a
// browser in with the attacker's key.
func (s *Server) signIn(ctx *fasthttp.RequestCtx, keys *Keyring) {
	var body struct {
		Key string `json:"key"`
	}
	if err := decodeStrictJSON(ctx, &body); err != nil {
		writeError(ctx, err)
		return
	}
	if body.Key == "" {
		writeError(ctx, badField("missing_key", "key", "send the API key as {\"key\": \"...\"}"))
		return
	}
	key := keyBySum(keys, sha256.Sum256([]byte(body.Key)))
	if key == nil {
		s.authFails.Inc()
		writeError(ctx, &apiError{status: fasthttp.StatusUnauthorized, code: "unauthenticated", field: "key", message: "unknown API key"})
		return
	}
	if key.Scopes&(ScopeAdmin|ScopeRead) == 0 {
		s.authFails.Inc()
		writeError(ctx, errSessionScope)
		return
	}
	id, sess := s.sessions.open(key.Hash)
	s.setSessionCookie(ctx, id, int(sessionTTL/time.Second))
	who := caller{key: key, ctx: ctx}
	s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "console.sign_in", Result: "ok"})
	writeJSON(ctx, sessionView{Name: key.Name, Scopes: scopeNames(key.Scopes), CSRF: sess.csrf,
		Expires: sess.expires.UTC().Format(time.RFC3339)})
}

// setSessionCookie sets (maxAge > 0) or clears (maxAge < 0) the session cookie. Path=/ because the admin API
// it authenticates is under /v1/.
func (s *Server) setSessionCookie(ctx *fasthttp.RequestCtx, value string, maxAge int) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(sessionCookie)
	c.SetValue(value)
	c.SetPath("/")
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	c.SetSecure(ctx.IsTLS())
	if maxAge < 0 {
		c.SetExpire(fasthttp.CookieExpireDelete)
	} else {
		c.SetMaxAge(maxAge)
	}
	ctx.Response.Header.SetCookie(c)
}

// handleAudit serves GET /v1/audit?limit=100: this instance's newest audit records, newest first (at most
// recentAudit). The control plane's history (GET /v1/control/{document}/versions) is the durable record of
// changes shared by every instance; this adds sign-ins, refusals, exports and erasures seen here.
func (s *Server) handleAudit(ctx *fasthttp.RequestCtx) {
	if _, ok := s.authorizeGlobal(ctx, ScopeAdmin); !ok {
		return
	}
	if !ctx.IsGet() {
		writeError(ctx, methodNotAllowed("GET"))
		return
	}
	limit := 100
	if b := ctx.QueryArgs().Peek("limit"); b != nil {
		n, err := fasthttp.ParseUint(b)
		if err != nil || n < 1 || n > recentAudit {
			writeError(ctx, badField("invalid_limit", "limit", "limit must be a whole number from 1 to %d", recentAudit))
			return
		}
		limit = n
	}
	writeJSON(ctx, map[string]any{"records": nonNil(s.audit.Recent(limit))})
}
