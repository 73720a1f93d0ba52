package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sync/atomic"

	"github.com/valyala/fasthttp"
	"gopkg.in/yaml.v3"

	"github.com/riskd/riskd/features"
)

// Scope is what an API key may do.
type Scope uint8

// Scopes.
const (
	ScopeDecide  Scope = 1 << iota // POST /v1/decide, POST /v1/events
	ScopeAdmin                     // rules, lists, users (export, erasure, preferences), pprof; also what ScopeMetrics reads
	ScopeExplain                   // POST /v1/decide?explain=1 (with decide): the feature vector of the user
	// ScopeMetrics reads /metrics and the details of /readyz, and nothing else: a scraper's credential sits in
	// the monitoring system's configuration, and must not be able to change rules or export users.
	ScopeMetrics
	// ScopeRead is an analyst's read-only key: every admin GET and the rule checks that change nothing
	// (validate, backtest), never a change (readOnlyAdmin, session.go).
	ScopeRead
)

// scopeOperations are the scopes that may read /metrics and the details of /readyz.
const scopeOperations = ScopeMetrics | ScopeAdmin

// parseScope reads a scope as keyring files and `riskd key` name it.
func parseScope(name string) (Scope, bool) {
	switch name {
	case "decide":
		return ScopeDecide, true
	case "admin":
		return ScopeAdmin, true
	case "explain":
		return ScopeExplain, true
	case "metrics":
		return ScopeMetrics, true
	case "read":
		return ScopeRead, true
	}
	return 0, false
}

// Key is one API key as riskd holds it: a SHA-256 of the secret, never the secret itself.
type Key struct {
	Name    string
	Hash    [sha256.Size]byte
	Scopes  Scope
	Tenants []string // tenants the key may act on; empty = all
}

// Keyring is an immutable set of API keys. The zero value (no keys) authenticates nobody, and the server then
// serves without authentication, which riskd allows only on loopback addresses.
type Keyring struct {
	keys []Key
	// verified holds, per key (same index), the secret a request proved to be that key's by its SHA-256, so that
	// later requests compare their token with it instead of hashing it: the hash was the largest cost of a
	// decision's authentication (~600 ns). Each entry is written once, when first verified, and never changed;
	// a reload builds a new Keyring, so a revoked key's secret goes with the old one, at once.
	verified []atomic.Pointer[[]byte]
}

// maxVerifiedSecret bounds the secrets kept in Keyring.verified; a longer one is hashed on every request.
const maxVerifiedSecret = 256

// Len is the number of keys.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.keys)
}

// keyFile is the YAML form of a keyring file.
type keyFile struct {
	Keys []struct {
		Name    string   `yaml:"name"`
		SHA256  string   `yaml:"sha256"`
		Scopes  []string `yaml:"scopes"`
		Tenants []string `yaml:"tenants"`
	} `yaml:"keys"`
}

// LoadKeyring reads a keyring file:
//
//	keys:
//	  - name: idp-eu          # who, in the audit log
//	    sha256: 5e88…         # hex SHA-256 of the secret (riskd key prints it)
//	    scopes: [decide]      # decide, explain (with decide: ?explain=1), admin, metrics, read
//	    tenants: [brand-a]    # optional: only these tenants
func LoadKeyring(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return ParseKeyring(data)
}

// ParseKeyring parses the content of a keyring file.
func ParseKeyring(data []byte) (*Keyring, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f keyFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	kr := &Keyring{}
	names := map[string]bool{}
	for i, e := range f.Keys {
		k := Key{Name: e.Name, Tenants: e.Tenants}
		if k.Name == "" || names[k.Name] {
			return nil, fmt.Errorf("keys: entry %d: name must be set and unique", i+1)
		}
		names[k.Name] = true
		h, err := hex.DecodeString(e.SHA256)
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("keys: %s: sha256 must be 64 hex digits", k.Name)
		}
		copy(k.Hash[:], h)
		for _, s := range e.Scopes {
			scope, ok := parseScope(s)
			if !ok {
				return nil, fmt.Errorf("keys: %s: unknown scope %q (decide, explain, admin, metrics, read)", k.Name, s)
			}
			k.Scopes |= scope
		}
		if k.Scopes == 0 {
			return nil, fmt.Errorf("keys: %s: no scopes", k.Name)
		}
		for _, t := range k.Tenants {
			if !validTenant(t) || t == "" {
				return nil, fmt.Errorf("keys: %s: invalid tenant %q", k.Name, t)
			}
		}
		kr.keys = append(kr.keys, k)
	}
	kr.verified = make([]atomic.Pointer[[]byte], len(kr.keys))
	return kr, nil
}

// HashSecret returns the hex SHA-256 of an API key secret, as a keyring file holds it.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// authenticate finds the key whose secret is the request's bearer token. Every key is compared, in constant
// time, whatever matches, so response timing reveals neither which key matched nor how much of a guess was
// right. Secrets are random and long, so a plain SHA-256 (no slow KDF) is enough to keep them unguessable from
// the keyring file.
//
// A token is first compared with the secrets already verified (Keyring.verified), every one of them, in
// constant time; only a token none matches is hashed and compared with every key's hash, and one that then
// matches is remembered for its key. A wrong token therefore always takes the hash, and what the timing tells
// is at most whether a token was a known key's, which its answer says anyway.
func (k *Keyring) authenticate(h *fasthttp.RequestHeader) *Key {
	auth := h.Peek(fasthttp.HeaderAuthorization)
	const prefix = "Bearer "
	if len(auth) <= len(prefix) || !bytes.EqualFold(auth[:len(prefix)], []byte(prefix)) {
		return nil
	}
	secret := auth[len(prefix):]
	found := -1
	for i := range k.verified {
		if v := k.verified[i].Load(); v != nil && subtle.ConstantTimeCompare(secret, *v) == 1 {
			found = i
		}
	}
	if found >= 0 {
		return &k.keys[found]
	}
	sum := sha256.Sum256(secret)
	for i := range k.keys {
		if subtle.ConstantTimeCompare(sum[:], k.keys[i].Hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil
	}
	if len(secret) <= maxVerifiedSecret && found < len(k.verified) {
		// A copy: the header's bytes belong to the request. Racing requests may both store one; either is right.
		v := bytes.Clone(secret)
		k.verified[found].CompareAndSwap(nil, &v)
	}
	return &k.keys[found]
}

// allowsTenant reports whether key may act on tenant.
func (key *Key) allowsTenant(tenant string) bool {
	return len(key.Tenants) == 0 || slices.Contains(key.Tenants, tenant)
}

var (
	errUnauthenticated = &apiError{status: fasthttp.StatusUnauthorized, code: "unauthenticated",
		message: "send Authorization: Bearer <API key>"}
	errForbiddenScope = &apiError{status: fasthttp.StatusForbidden, code: "forbidden",
		message: "this API key lacks the scope for this endpoint"}
	errForbiddenTenant = &apiError{status: fasthttp.StatusForbidden, code: "forbidden_tenant", field: "tenant",
		message: "this API key may not act on this tenant"}
	errForbiddenGlobal = &apiError{status: fasthttp.StatusForbidden, code: "forbidden",
		message: "a key restricted to tenants cannot change what all tenants share"}
	errForbiddenEvaluation = &apiError{status: fasthttp.StatusForbidden, code: "forbidden_evaluation", field: "evaluation_id",
		message: "this API key may not report outcomes of another tenant's evaluation"}
	errEvaluationRequired = &apiError{status: fasthttp.StatusForbidden, code: "evaluation_required", field: "evaluation_id",
		message: "a key restricted to tenants reports failures of its own evaluations only: send the decision's evaluation_id"}
	errForbiddenExplain = &apiError{status: fasthttp.StatusForbidden, code: "forbidden_scope", field: "explain",
		message: "?explain=1 shows the user's features: it needs a key with the explain scope (or admin) besides decide"}
)

// caller is who made a request, for authorization and the audit log. It lives only as long as the request.
type caller struct {
	key *Key                 // nil when the server runs without keys
	ctx *fasthttp.RequestCtx // where the request came from, read only when audited
}

// source is the caller's network address (the peer's, which behind a proxy is the proxy's) and, when the
// request carries one, its X-Forwarded-For header as sent: unverified, but what ties the record to the proxy's log.
func (c caller) source() string {
	if c.ctx == nil {
		return ""
	}
	src := c.ctx.RemoteAddr().String()
	if fwd := c.ctx.Request.Header.Peek(fasthttp.HeaderXForwardedFor); len(fwd) > 0 {
		src += " forwarded-for " + string(fwd[:min(len(fwd), 256)])
	}
	return src
}

// may reports whether the caller holds one of scopes (everyone may when the server runs without keys).
func (c caller) may(scopes Scope) bool { return c.key == nil || c.key.Scopes&scopes != 0 }

func (c caller) name() string {
	if c.key == nil {
		return "unauthenticated-loopback"
	}
	return c.key.Name
}

func (c caller) tenantAllowed(tenant string) bool { return c.key == nil || c.key.allowsTenant(tenant) }

// global reports whether the caller may act on state all tenants share (users, rules).
func (c caller) global() bool { return c.key == nil || len(c.key.Tenants) == 0 }

// mayReadOperations reports whether the request may see the operational details (/metrics, the body of
// /readyz): with a key of the metrics or admin scope, or from anyone when riskd runs without keys. Unlike
// authorize it answers nothing and counts no failure: /readyz serves everyone, in less detail.
func (s *Server) mayReadOperations(ctx *fasthttp.RequestCtx) bool {
	keys := s.keys.Load()
	if keys.Len() == 0 {
		return true
	}
	key := keys.authenticate(&ctx.Request.Header)
	return key != nil && key.Scopes&scopeOperations != 0
}

// tenantOutcome applies to an outcome from a key restricted to tenants what such a key may teach the identity all
// tenants share (README, "One identity, many brands"): an evaluation it names must be one of its tenants'; a
// failure must name one; and what it teaches is marked as its tenant's (o.Scoped).
func (s *Server) tenantOutcome(who caller, o *features.Outcome) *apiError {
	if o.EvaluationID != "" {
		ours := false
		for _, t := range who.key.Tenants {
			ours = ours || s.engine.EvaluationOf(o.EvaluationID, t)
		}
		if !ours {
			return errForbiddenEvaluation
		}
	}
	if o.EvaluationID == "" && o.Type.Lessons() == features.LessonFailure {
		return errEvaluationRequired
	}
	o.Scoped = true
	return nil
}

// authorizeGlobal is authorize for what all tenants share (users, the process itself): the key must also be
// one of every tenant. When it reports false it has answered the request.
func (s *Server) authorizeGlobal(ctx *fasthttp.RequestCtx, scope Scope) (caller, bool) {
	who, err := s.authorize(ctx, scope)
	if err != nil {
		s.writeAuthError(ctx, err)
		return who, false
	}
	if !who.global() {
		writeError(ctx, errForbiddenGlobal)
		return who, false
	}
	return who, true
}

// authorize checks the request's key for scope (any of them, when scope holds several). With no keyring
// configured everyone is allowed (riskd then listens only on loopback).
func (s *Server) authorize(ctx *fasthttp.RequestCtx, scope Scope) (caller, error) {
	keys := s.keys.Load()
	if keys.Len() == 0 {
		return caller{ctx: ctx}, nil
	}
	key := keys.authenticate(&ctx.Request.Header)
	if key == nil && scope&(ScopeAdmin|ScopeRead) != 0 {
		// The admin API also takes the console's session cookie, with its CSRF token on changes (session.go).
		var err error
		if key, err = s.sessionKey(ctx, keys); err != nil {
			return caller{}, err
		}
	}
	if key == nil {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="riskd"`)
		return caller{}, errUnauthenticated
	}
	if key.Scopes&scope == 0 && !(scope&ScopeAdmin != 0 && key.Scopes&ScopeRead != 0 && readOnlyAdmin(ctx)) {
		return caller{}, errForbiddenScope
	}
	return caller{key: key, ctx: ctx}, nil
}
