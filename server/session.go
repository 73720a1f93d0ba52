package server

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// The console's sign-in: an API key of the admin or read scope is exchanged once for a session cookie, so the
// browser never holds the key. The cookie is HttpOnly (scripts cannot read it), SameSite=Strict (no other site's
// page sends it) and Secure under TLS. Because a browser attaches it to every same-site request on its own, a
// request authenticated by it that is not a GET or HEAD must also carry the session's CSRF token in
// X-CSRF-Token, which only the console's own script can know (it reads it from GET /console/api/session).
// The cookie is accepted by the admin API only (authorize, with the admin or read scope), never by /v1/decide
// or /v1/events.

const (
	sessionCookie = "riskd_session"
	csrfHeader    = "X-CSRF-Token"
	// sessionTTL is how long a session lasts from sign-in, whatever its use: a working day.
	sessionTTL = 8 * time.Hour
	// maxSessions bounds the table; signing in beyond it ends the session closest to its end.
	maxSessions = 1024
)

var (
	errCSRF = &apiError{status: fasthttp.StatusForbidden, code: "csrf_token", field: csrfHeader,
		message: "a change made with the console's session cookie must carry its X-CSRF-Token header"}
	errSessionScope = &apiError{status: fasthttp.StatusForbidden, code: "forbidden",
		message: "the console signs in with a key of the admin or read scope"}
)

// session is one signed-in browser. It holds the hash of the key it was opened with, not the key: each
// request finds that key in the current keyring, so removing a key from the keyring ends its sessions.
type session struct {
	keyHash [sha256.Size]byte
	csrf    string
	expires time.Time
}

// sessions is the bounded server-side session table, keyed by the SHA-256 of the cookie's value (a leak of the
// table's memory does not give out usable cookies).
type sessions struct {
	mu   sync.Mutex
	byID map[[sha256.Size]byte]*session
	now  func() time.Time
}

func newSessions() *sessions {
	return &sessions{byID: map[[sha256.Size]byte]*session{}, now: time.Now}
}

// open starts a session for the key of hash keyHash and returns its cookie value and CSRF token.
func (t *sessions) open(keyHash [sha256.Size]byte) (id string, sess session) {
	id, csrf := randomToken(), randomToken()
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.byID) >= maxSessions {
		t.evictLocked(now)
	}
	sess = session{keyHash: keyHash, csrf: csrf, expires: now.Add(sessionTTL)}
	t.byID[sha256.Sum256([]byte(id))] = &sess
	return id, sess
}

// evictLocked drops the expired sessions, and when none had, the one that ends first.
func (t *sessions) evictLocked(now time.Time) {
	var first [sha256.Size]byte
	var firstEnd time.Time
	for h, s := range t.byID {
		if !now.Before(s.expires) {
			delete(t.byID, h)
			continue
		}
		if firstEnd.IsZero() || s.expires.Before(firstEnd) {
			first, firstEnd = h, s.expires
		}
	}
	if len(t.byID) >= maxSessions {
		delete(t.byID, first)
	}
}

// lookup returns the session of a cookie value, if it exists and has not expired.
func (t *sessions) lookup(id []byte) (session, bool) {
	if len(id) == 0 {
		return session{}, false
	}
	h := sha256.Sum256(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byID[h]
	if !ok {
		return session{}, false
	}
	if !t.now().Before(s.expires) {
		delete(t.byID, h)
		return session{}, false
	}
	return *s, true
}

// close ends the session of a cookie value.
func (t *sessions) close(id []byte) {
	h := sha256.Sum256(id)
	t.mu.Lock()
	delete(t.byID, h)
	t.mu.Unlock()
}

func (t *sessions) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// randomToken is 32 random bytes, base64url: a session id or a CSRF token.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// keyBySum finds the key whose secret hashes to sum, comparing every key in constant time as authenticate does.
func keyBySum(k *Keyring, sum [sha256.Size]byte) *Key {
	found := -1
	for i := range k.keys {
		if subtle.ConstantTimeCompare(sum[:], k.keys[i].Hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil
	}
	return &k.keys[found]
}

// sessionKey authenticates a request of the admin API by the console's session cookie: the key the session was
// opened with, if it is still in keys; nil when there is no valid session. A request that may change something
// (neither GET nor HEAD) must carry the session's CSRF token, else errCSRF.
func (s *Server) sessionKey(ctx *fasthttp.RequestCtx, keys *Keyring) (*Key, error) {
	sess, ok := s.sessions.lookup(ctx.Request.Header.Cookie(sessionCookie))
	if !ok {
		return nil, nil
	}
	key := keyBySum(keys, sess.keyHash)
	if key == nil || key.Scopes&(ScopeAdmin|ScopeRead) == 0 {
		return nil, nil
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		got := ctx.Request.Header.Peek(csrfHeader)
		if subtle.ConstantTimeCompare(got, []byte(sess.csrf)) != 1 {
			return nil, errCSRF
		}
	}
	return key, nil
}

// readOnlyAdmin reports whether a request to the admin API changes nothing, so that a key of the read scope
// may make it: a GET or HEAD of the analysts' resources, or a rule set's validation or backtest (which compile
// and replay a candidate and keep nothing). Matched on the raw path the router reads (path.go); an escaped
// spelling of these paths is refused rather than interpreted. Profiles (/debug/pprof) and the Shared Signals
// configuration are not the analysts' and stay with the admin scope.
func readOnlyAdmin(ctx *fasthttp.RequestCtx) bool {
	path := rawPath(ctx)
	if ctx.IsPost() {
		return string(path) == "/v1/rules/validate" || string(path) == "/v1/rules/backtest"
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		return false
	}
	for _, p := range [...]string{"/v1/rules", "/v1/control", "/v1/lists", "/v1/exceptions", "/v1/users/",
		"/v1/stats", "/v1/decisions/", "/v1/audit"} {
		if bytes.HasPrefix(path, []byte(p)) {
			return true
		}
	}
	return false
}
