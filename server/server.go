package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/pprofhandler"
	"github.com/valyala/fastjson"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/internal/jsonenc"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/signals"
)

// Config configures a Server. Zero values take the defaults in parentheses.
type Config struct {
	Engine  *engine.Engine
	Metrics *metrics.Set // where /metrics reads from; the engine's metrics should be registered in it
	Logger  *slog.Logger

	// Keys authenticates callers; nil or empty serves everyone (the caller must then listen on loopback only).
	Keys *Keyring
	// Auditor records administrative changes; nil records nothing.
	Auditor *Auditor
	// SeparateAdmin serves the admin endpoints (rules, users, metrics) only through HandleAdmin, on a
	// listener of their own, instead of beside /v1/decide.
	SeparateAdmin bool
	// MaxInflight bounds the decide and events requests evaluated at once; beyond it requests are shed (1024).
	MaxInflight int
	// Pprof serves Go's profiler under /debug/pprof/ on the admin routes (admin scope).
	Pprof bool
	// Lists holds the lists and exceptions the admin API manages; nil = none.
	Lists *lists.Registry
	// DecisionLogDir is where the decision log is written, for POST /v1/rules/backtest; empty = no log.
	DecisionLogDir string
	// RuleGate runs the rule work of the admin API (validate, PUT, shadow, backtest) one job at a time, with
	// the process's other rule work (reloads) when they share it; nil = a gate of the server's own.
	RuleGate *rules.Gate
	// QueueBudget sheds a decide or events request that waited longer than this before reaching riskd, by its
	// caller's X-Request-Start header (see HeaderRequestStart): under overload the queue forms before riskd,
	// and answering the stale requests cheaply lets the fresh ones be answered in time. 0 = off; requests
	// without the header are never shed for their age.
	QueueBudget time.Duration
	// Signals is the Shared Signals transmitter whose endpoints the server serves (ssf.go); nil = none.
	Signals *signals.Transmitter
	// QueueTarget, with QueueBudget, sheds stamped requests at random while the delay they waited before
	// reaching riskd is above this target, as much as holds it there (queuectl.go): accepted requests then wait
	// about the target, and refusals arrive before answers. With it the budget refuses nothing itself: a request
	// past it engages the controller at once. 0 = off: only the budget sheds.
	QueueTarget time.Duration
	// ShedWithFallback answers a shed decide request with the fail policy's decision (200) instead of 503.
	ShedWithFallback bool
	// Control keeps the rule sets, lists and exceptions the admin API changes as versioned documents (see
	// control.go); nil = a plane of the server's own over a memory store, which forgets on exit.
	Control *control.Plane

	MaxBodyBytes int           // largest request body accepted on decide, events and other non-admin routes (16 KiB)
	Concurrency  int           // requests served at once; more are refused by fasthttp with 503 (4096)
	ReadTimeout  time.Duration // to read a whole request (5 s)
	WriteTimeout time.Duration // to write a whole response (5 s)
	IdleTimeout  time.Duration // keep-alive connections idle longer are closed (120 s; see serve's --idle-timeout)

	// MaxAdminBodyBytes is the largest body of an admin request (a rule file, a list) from a caller holding an
	// admin key, or from anyone without keys (1 MiB). See bodyLimit.
	MaxAdminBodyBytes int
	// MaxConnsPerClient bounds the connections one client (an IPv4 address, an IPv6 /64) holds open on each
	// listener; more are closed as they arrive (512; negative = no bound). See connLimiter.
	MaxConnsPerClient int

	// The Ory Kratos adapter (kratos.go): the request header its hooks take the client's address from
	// (True-Client-Ip), how long a hook waits for a decision before answering with the fail policy (250 ms;
	// a warm decision takes microseconds, but one that parses the process's first user agent compiles the
	// parser's regexes, which riskd serve does at start-up, and tests do not), and how long a stepped-up identity
	// is asked for aal2 (24 h, Kratos's default session lifespan).
	KratosIPHeader  string
	KratosDeadline  time.Duration
	KratosStepUpTTL time.Duration

	// StreamKeepAlive is how often an idle decision stream sends a comment (15 s; see stream.go).
	StreamKeepAlive time.Duration
}

// Server serves riskd's HTTP API.
type Server struct {
	cfg        Config
	engine     *engine.Engine
	log        *slog.Logger
	srv        *fasthttp.Server
	metrics    *metrics.Set
	keys       atomic.Pointer[Keyring]
	audit      *Auditor
	sessions   *sessions // the console's sign-ins (session.go)
	draining   atomic.Bool
	inflight   atomic.Int64
	pool       sync.Pool        // *requestState
	admin      *fasthttp.Server // the admin listener's server, when SeparateAdmin
	vectors    *jsonenc.VectorEncoder
	shedAnswer shedAnswer
	control    *control.Plane

	requests  [6]*metrics.Counter // by status class: 1xx..5xx, index 0 unused
	panics    *metrics.Counter
	shed      *metrics.Counter
	shedLate  *metrics.Counter // shed for waiting longer than QueueBudget (also counted in shed)
	shedEarly *metrics.Counter // shed by the queue controller, within the budget (also counted in shed)
	queue     *queueControl    // nil without QueueTarget
	authFails *metrics.Counter
	refused   *metrics.Counter // connections closed for the per-client bound
	// auditFails counts audit records that could not be written.
	auditFails *metrics.Counter
	startedAt  time.Time

	kratosMarks     *stepUpMarks
	kratosLate      *metrics.Counter // hooks answered with the fail policy for the deadline
	kratosNoAddress *metrics.Counter // hooks without the client's address header
	// decideKratos is the adapter's decision: the engine's, which tests slow down to pass the deadline.
	decideKratos func(*features.Event, *engine.Decision) error

	overview *overview // the console's overview series (stats.go)
}

// requestState is the per-request scratch of the decide and events paths: acquired at the start of a request,
// released (reset) at its end. Nothing in it may be used after release.
type requestState struct {
	parser   fastjson.Parser
	event    features.Event
	outcome  features.Outcome
	decision engine.Decision
	out      []byte
	msg      []byte // scratch for reason messages with feature values
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("server: Engine is required")
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.MaxBodyBytes = defaultInt(cfg.MaxBodyBytes, 16<<10)
	cfg.MaxAdminBodyBytes = defaultInt(cfg.MaxAdminBodyBytes, 1<<20)
	cfg.MaxInflight = defaultInt(cfg.MaxInflight, 1024)
	cfg.Concurrency = defaultInt(cfg.Concurrency, 4096)
	cfg.ReadTimeout = defaultDuration(cfg.ReadTimeout, 5*time.Second)
	cfg.WriteTimeout = defaultDuration(cfg.WriteTimeout, 5*time.Second)
	cfg.IdleTimeout = defaultDuration(cfg.IdleTimeout, 120*time.Second)
	cfg.StreamKeepAlive = defaultDuration(cfg.StreamKeepAlive, defaultStreamKeepAlive)
	if cfg.MaxConnsPerClient == 0 { // negative is no bound, and stays so
		cfg.MaxConnsPerClient = 512
	}
	if cfg.RuleGate == nil {
		cfg.RuleGate = rules.NewGate()
	}

	s := &Server{cfg: cfg, engine: cfg.Engine, log: cfg.Logger, metrics: cfg.Metrics, audit: cfg.Auditor,
		startedAt: time.Now(), vectors: jsonenc.NewVectorEncoder(), shedAnswer: newShedAnswer(), sessions: newSessions()}
	if s.audit == nil {
		s.audit = NewAuditor(nil) // no log, but the recent records the console shows
	}
	s.keys.Store(cfg.Keys)
	if s.control = cfg.Control; s.control == nil {
		var err error
		st := control.NewMemory()
		s.control, err = control.New(control.Config{Store: st, Metrics: cfg.Metrics, Logger: cfg.Logger,
			Documents:    ControlDocuments(cfg.Engine, cfg.Lists, cfg.RuleGate, ruleWorkWait, VersionBases(st.Get)),
			RulesVersion: func() string { return cfg.Engine.Rules().Version }})
		if err != nil {
			return nil, err
		}
	}
	s.pool.New = func() any { return &requestState{out: make([]byte, 0, 1024)} }
	for c := 1; c <= 5; c++ {
		s.requests[c] = cfg.Metrics.NewCounter(fmt.Sprintf(`riskd_http_requests_total{code="%dxx"}`, c))
	}
	s.panics = cfg.Metrics.NewCounter("riskd_http_panics_total")
	s.shed = cfg.Metrics.NewCounter("riskd_shed_requests_total")
	s.shedLate = cfg.Metrics.NewCounter("riskd_shed_late_requests_total")
	s.shedEarly = cfg.Metrics.NewCounter("riskd_shed_early_requests_total")
	if cfg.QueueTarget > 0 && cfg.QueueBudget > 0 {
		s.queue = newQueueControl(cfg.QueueTarget, cfg.QueueBudget)
		cfg.Metrics.NewGauge("riskd_shed_probability", s.queue.probability)
	}
	s.authFails = cfg.Metrics.NewCounter("riskd_auth_failures_total")
	s.refused = cfg.Metrics.NewCounter("riskd_connections_refused_total")
	s.auditFails = cfg.Metrics.NewCounter("riskd_audit_write_failures_total")
	cfg.Metrics.NewGauge("riskd_inflight_requests", func() float64 { return float64(s.inflight.Load()) })
	s.registerStreamMetrics()
	s.startOverview()
	s.srv = s.newHTTPServer(s.Handle)
	if cfg.SeparateAdmin {
		s.admin = s.newHTTPServer(s.HandleAdmin)
		s.admin.HeaderReceived = s.bodyLimit
	} else {
		s.srv.HeaderReceived = s.bodyLimit
	}
	s.newKratosAdapter()
	return s, nil
}

func (s *Server) newHTTPServer(h fasthttp.RequestHandler) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:              h,
		ErrorHandler:         s.handleParseError,
		Name:                 "riskd",
		MaxRequestBodySize:   s.cfg.MaxBodyBytes,
		Concurrency:          s.cfg.Concurrency,
		ReadTimeout:          s.cfg.ReadTimeout,
		WriteTimeout:         s.cfg.WriteTimeout,
		IdleTimeout:          s.cfg.IdleTimeout,
		ReadBufferSize:       8 << 10,
		NoDefaultDate:        true,
		NoDefaultContentType: true,
		CloseOnShutdown:      true,
		Logger:               fasthttpLogger{s.log},

		// riskd takes no multipart body; parsing one before the handler refuses it would be work for nothing.
		DisablePreParseMultipartForm: true,
	}
}

func defaultInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func defaultDuration(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(s.limitConns(ln)) }

// ServeTLS serves HTTPS on ln with the given certificate and key files until Shutdown.
func (s *Server) ServeTLS(ln net.Listener, certFile, keyFile string) error {
	return s.srv.ServeTLS(s.limitConns(ln), certFile, keyFile)
}

// limitConns applies Config.MaxConnsPerClient to the connections ln accepts, with a bound of its own.
func (s *Server) limitConns(ln net.Listener) net.Listener {
	if s.cfg.MaxConnsPerClient < 0 {
		return ln
	}
	return newConnLimiter(s.cfg.MaxConnsPerClient, s.refused.Inc, func(client netip.Addr) {
		s.log.Warn("a client holds the most connections allowed; further ones are closed (logged once a minute)",
			"client", client.String(), "max_conns_per_client", s.cfg.MaxConnsPerClient, "listener", ln.Addr().String())
	}).wrap(ln)
}

// ServeAdmin serves the admin endpoints on ln until Shutdown; only with Config.SeparateAdmin.
func (s *Server) ServeAdmin(ln net.Listener) error {
	if s.admin == nil {
		return errors.New("server: ServeAdmin without SeparateAdmin")
	}
	return s.admin.Serve(s.limitConns(ln))
}

// ServeAdminTLS serves the admin endpoints over HTTPS on ln until Shutdown; only with Config.SeparateAdmin.
// Admin keys and user exports cross this listener: off a loopback address it should not be plain HTTP.
func (s *Server) ServeAdminTLS(ln net.Listener, certFile, keyFile string) error {
	if s.admin == nil {
		return errors.New("server: ServeAdminTLS without SeparateAdmin")
	}
	return s.admin.ServeTLS(s.limitConns(ln), certFile, keyFile)
}

// SetKeys replaces the keyring for the requests that start after it (a reload). Going from keys to none is
// refused: the listener may not be a loopback one.
func (s *Server) SetKeys(k *Keyring) error {
	if k.Len() == 0 && s.keys.Load().Len() > 0 {
		return errors.New("server: refusing to drop all API keys on a running server")
	}
	s.keys.Store(k)
	return nil
}

// Audit records an administrative change made outside the HTTP API (a signal-driven reload).
func (s *Server) Audit(r AuditRecord) { s.recordAudit(r) }

// Drain marks the server as draining: /readyz answers 503 so load balancers stop sending new traffic, while
// requests keep being served until Shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

// Shutdown stops accepting connections and waits for in-flight requests to finish or ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	s.stopOverview()
	s.engine.Stream().Close() // streams end only when told: the connections they hold would keep Shutdown waiting
	err := s.srv.ShutdownWithContext(ctx)
	if s.admin != nil {
		err = errors.Join(err, s.admin.ShutdownWithContext(ctx))
	}
	return err
}

// Handle routes one request of the main listener. It is the fasthttp handler; tests call it directly too.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) { s.route(ctx, true, !s.cfg.SeparateAdmin) }

// HandleAdmin routes one request of the admin listener (Config.SeparateAdmin).
func (s *Server) HandleAdmin(ctx *fasthttp.RequestCtx) { s.route(ctx, false, true) }

func (s *Server) route(ctx *fasthttp.RequestCtx, decide, admin bool) {
	defer s.recoverPanic(ctx)
	if decide && s.shedFirst(ctx) { // see shed.go: past capacity, a refusal must cost as little as it can
		return
	}
	if ae := s.checkHost(ctx); ae != nil {
		writeError(ctx, ae)
		s.count(ae.status)
		return
	}
	path := rawPath(ctx) // see path.go: routes and handlers read the same raw path
	switch p := string(path); {
	case p == "/healthz":
		s.handleHealth(ctx)
	case p == "/readyz":
		s.handleReady(ctx)
	case p == "/openapi.yaml":
		s.handleSpec(ctx)
	case decide && p == "/v1/decide":
		s.handleDecide(ctx)
	case decide && p == "/v1/events":
		s.handleEvents(ctx)
	case decide && strings.HasPrefix(p, kratosPrefix):
		s.handleKratos(ctx, string(path[len(kratosPrefix):])) // p itself must not escape, as below
	case admin && p == "/metrics":
		s.handleMetrics(ctx)
	case admin && (p == "/console" || strings.HasPrefix(p, consolePrefix)):
		s.handleConsole(ctx, string(path)) // p itself must not escape, as below
	case s.cfg.Signals != nil && isSSFPath(p):
		s.handleSSF(ctx, string(path), admin) // p itself must not escape: it would allocate on every request
	case admin:
		s.routeAdmin(ctx, path)
	default:
		writeError(ctx, errNotFound)
	}
	s.count(ctx.Response.StatusCode())
}

// routeAdmin routes the admin endpoints by the decoded segments of the raw path; each handler gets the segments
// after its route's name.
func (s *Server) routeAdmin(ctx *fasthttp.RequestCtx, path []byte) {
	segs, ae := splitPath(path)
	switch {
	case ae != nil:
		writeError(ctx, ae)
	case s.cfg.Pprof && len(segs) >= 3 && segs[0] == "debug" && segs[1] == "pprof":
		// A heap dump holds every tenant's requests: a key of every tenant only.
		who, ok := s.authorizeGlobal(ctx, ScopeAdmin)
		if !ok {
			return
		}
		// Profiles and heap dumps show what the process holds, request data included: who took one is audited.
		s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "pprof", Target: string(ctx.RequestURI()), Result: "ok"})
		pprofhandler.PprofHandler(ctx)
	case len(segs) >= 2 && segs[0] == "v1" && segs[1] == "rules":
		s.handleRules(ctx, segs[2:])
	case len(segs) >= 2 && segs[0] == "v1" && (segs[1] == "lists" || segs[1] == "exceptions"):
		s.handleLists(ctx, segs[1:])
	case len(segs) >= 2 && segs[0] == "v1" && segs[1] == "users":
		s.handleUser(ctx, segs[2:])
	case len(segs) >= 2 && segs[0] == "v1" && segs[1] == "control":
		s.handleControl(ctx, segs[2:])
	case len(segs) == 3 && segs[0] == "v1" && segs[1] == "decisions" && segs[2] == "stream":
		s.handleStream(ctx)
	case len(segs) == 2 && segs[0] == "v1" && segs[1] == "stats":
		s.handleStats(ctx)
	case len(segs) == 2 && segs[0] == "v1" && segs[1] == "audit":
		s.handleAudit(ctx)
	default:
		writeError(ctx, errNotFound)
	}
}

func (s *Server) count(status int) {
	if c := status / 100; c >= 1 && c <= 5 {
		s.requests[c].Inc()
	}
}

// recoverPanic turns a panic in a handler into a JSON 500 and a log line with the stack, so one bad request
// never takes the process (and every login behind it) down.
func (s *Server) recoverPanic(ctx *fasthttp.RequestCtx) {
	if r := recover(); r != nil {
		s.panics.Inc()
		s.log.Error("panic serving request", "path", string(rawPath(ctx)), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		ctx.Response.Reset()
		writeError(ctx, errInternal)
		s.count(ctx.Response.StatusCode())
	}
}

// handleParseError answers requests fasthttp could not read (too large, malformed, timed out) in the JSON
// error shape instead of fasthttp's plain text.
func (s *Server) handleParseError(ctx *fasthttp.RequestCtx, err error) {
	var ae *apiError
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge) && isAdminTarget(ctx.Request.Header.RequestURI()):
		// The body was held to the small limit because the caller lacks an admin key: say that, not "too large".
		ae = errBodyTooLarge
		if _, authErr := s.authorize(ctx, ScopeAdmin); authErr != nil {
			ae = toAPIError(authErr)
			s.authFails.Inc()
		}
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		ae = errBodyTooLarge
	default:
		ae = errBadRequest
	}
	writeError(ctx, ae)
	s.count(ae.status)
}

func (s *Server) acquire() *requestState { return s.pool.Get().(*requestState) }

// release resets st and returns it to the pool. st must not be used afterwards.
func (s *Server) release(st *requestState) {
	st.event.Reset()
	st.outcome = features.Outcome{}
	st.decision.Explain = nil
	st.out = st.out[:0]
	s.pool.Put(st)
}

func requireJSONPost(ctx *fasthttp.RequestCtx) *apiError {
	if !ctx.IsPost() {
		return methodNotAllowed("POST")
	}
	return requireJSON(ctx)
}

// requireJSON refuses a body not declared application/json, a missing Content-Type included: a browser
// sends a cross-site form or text/plain POST without asking first, never a JSON one, so this also keeps web
// pages from driving the API.
func requireJSON(ctx *fasthttp.RequestCtx) *apiError {
	if !isJSON(ctx.Request.Header.ContentType()) {
		return errUnsupportedMedia
	}
	return nil
}

// isJSON accepts application/json with optional parameters (charset).
func isJSON(ct []byte) bool { return isMediaType(ct, "application/json") }

// isMediaType reports whether the Content-Type ct is want (compared without case), with optional parameters.
func isMediaType(ct []byte, want string) bool {
	if string(ct) == want { // as nearly every client sends it; the case-blind comparison costs ten times more
		return true
	}
	if len(ct) < len(want) || !bytes.EqualFold(ct[:len(want)], []byte(want)) {
		return false
	}
	return len(ct) == len(want) || ct[len(want)] == ';' || ct[len(want)] == ' '
}

func (s *Server) handleDecide(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	who, overloaded, ok := s.admit(ctx, start)
	if !ok {
		return
	}
	defer s.inflight.Add(-1)
	explain := isExplain(ctx)
	if explain && !who.may(ScopeExplain|ScopeAdmin) {
		// Refused rather than ignored: a client that asked for the features must learn it will not get them.
		writeError(ctx, errForbiddenExplain)
		return
	}
	if overloaded && !s.cfg.ShedWithFallback {
		s.writeShed(ctx)
		return
	}
	st := s.acquire()
	defer s.release(st)
	if overloaded {
		s.decideFallback(ctx, who, st, start)
		return
	}
	if ae := decodeDecide(&st.parser, ctx.PostBody(), &st.event); ae != nil {
		writeError(ctx, ae)
		return
	}
	if !who.tenantAllowed(st.event.Tenant) {
		writeError(ctx, errForbiddenTenant)
		return
	}
	st.event.Received = start
	if explain {
		st.decision.Explain = new(engine.Explanation)
	}
	if err := s.engine.Decide(&st.event, &st.decision); err != nil {
		writeError(ctx, err)
		return
	}
	// The engine timed the decision from start (st.event.Received): its figure saves reading the clock again.
	b, msg := appendDecision(st.out[:0], &st.decision, st.decision.Took.Microseconds(), st.msg)
	st.msg = msg
	if explain {
		b = appendExplanation(b, s.vectors, st.decision.Explain)
	}
	b = append(b, '}')
	st.out = b
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(b)
}

func isExplain(ctx *fasthttp.RequestCtx) bool {
	v := ctx.QueryArgs().Peek("explain")
	return len(v) > 0 && (v[0] == '1' || v[0] == 't')
}

func (s *Server) handleEvents(ctx *fasthttp.RequestCtx) {
	who, overloaded, ok := s.admit(ctx, time.Now())
	if !ok {
		return
	}
	defer s.inflight.Add(-1)
	if overloaded {
		// An outcome that is not recorded costs a little learning; a late answer to a decide costs a login.
		s.writeShed(ctx)
		return
	}
	st := s.acquire()
	defer s.release(st)
	if ae := decodeOutcome(&st.parser, ctx.PostBody(), &st.outcome); ae != nil {
		writeError(ctx, ae)
		return
	}
	if !who.tenantAllowed(st.outcome.Tenant) {
		writeError(ctx, errForbiddenTenant)
		return
	}
	if !who.global() {
		if ae := s.tenantOutcome(who, &st.outcome); ae != nil {
			writeError(ctx, ae)
			return
		}
	}
	if err := s.engine.Record(&st.outcome); err != nil {
		writeError(ctx, err)
		return
	}
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBodyString(`{"status":"recorded"}`)
}

// admit authenticates a decide-scope POST arrived at now and counts it in flight, reporting whether riskd is
// overloaded or the request waited past the queue budget. When it returns ok the caller must decrement
// s.inflight once done; when not, it has answered the request.
func (s *Server) admit(ctx *fasthttp.RequestCtx, now time.Time) (who caller, overloaded, ok bool) {
	who, err := s.authorize(ctx, ScopeDecide)
	if err != nil {
		s.writeAuthError(ctx, err)
		return who, false, false
	}
	if ae := requireJSONPost(ctx); ae != nil {
		writeError(ctx, ae)
		return who, false, false
	}
	s.observeWait(ctx, now)
	overloaded = s.inflight.Add(1) > int64(s.cfg.MaxInflight)
	if !overloaded && !s.shedsFirst(ctx) { // shedFirst has judged its age already
		overloaded = s.stale(ctx, now)
	}
	return who, overloaded, true
}

func (s *Server) writeAuthError(ctx *fasthttp.RequestCtx, err error) {
	s.authFails.Inc()
	writeError(ctx, err)
}

// fasthttpLogger sends fasthttp's own messages to slog.
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "component", "fasthttp")
}
