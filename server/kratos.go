package server

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// The Ory Kratos adapter: endpoints that speak Kratos's web_hook contract (integrations/kratos holds the Jsonnet
// bodies and the configuration fragment, docs/INTEGRATING.md the walk-through).
//
//	POST /v1/adapters/kratos/login/before          a login flow starts: no identity yet, only the address
//	POST /v1/adapters/kratos/login/after           the credentials were checked; the session is about to be issued
//	POST /v1/adapters/kratos/registration/before   a registration flow starts
//	POST /v1/adapters/kratos/registration/after    the identity is about to be created (a can_interrupt hook)
//	POST /v1/adapters/kratos/session               the application asks which AAL riskd requires of a session
//
// A hook's body is the Jsonnet template's reduction of Kratos's context (never its cookies or traits). Its
// answer is what Kratos acts on: 200 lets the flow go on; a deny is a 403 in Kratos's `messages` format, which a
// can_interrupt hook turns into a refused flow showing riskd's message.
//
// Step-up. A hook cannot raise a session's authenticator assurance level, and Kratos issues no session when a
// hook refuses the flow, while a login at aal2 needs a session at aal1 to upgrade. So a step_up on a login at
// aal1 lets the login go on and marks the identity as owing a second factor; the application, which already
// reads the session (whoami) to gate its pages, asks riskd (/session) and sends the user to
// /self-service/login?aal=aal2 while the mark stands. The next login/after hook at aal2 clears the mark and
// reports mfa_passed, which teaches riskd the device. The marks are bounded (kratosMaxMarks) and expire with the
// session's lifespan (Config.KratosStepUpTTL); they live in this process, as the velocity windows of the
// embedded state do.
//
// Deadline. A hook waits for the decision at most Config.KratosDeadline; past it the hook answers with the fail
// policy's decision, so a slow riskd (a stalled Redis) costs a login its risk check, never the login itself.

// kratosPrefix is the adapter's route.
const kratosPrefix = "/v1/adapters/kratos/"

// Message ids riskd answers Kratos with: Kratos shows the text, and a UI may act on the id.
const (
	// KratosMessageDenied refuses a flow riskd denied.
	KratosMessageDenied = 4700001
	// KratosMessageStepUpUnavailable refuses a login riskd asked to step up when it cannot hold the mark that
	// makes the application ask for aal2 (too many open step-ups): refusing is the safe side.
	KratosMessageStepUpUnavailable = 4700002
)

// kratosMaxMarks bounds the identities that owe a second factor at once (about 100 bytes each).
const kratosMaxMarks = 1 << 16

// newKratosAdapter applies the adapter's defaults to s.cfg and sets up its marks and metrics.
func (s *Server) newKratosAdapter() {
	if s.cfg.KratosIPHeader == "" {
		s.cfg.KratosIPHeader = "True-Client-Ip"
	}
	s.cfg.KratosDeadline = defaultDuration(s.cfg.KratosDeadline, 250*time.Millisecond)
	s.cfg.KratosStepUpTTL = defaultDuration(s.cfg.KratosStepUpTTL, 24*time.Hour)
	s.kratosMarks = newStepUpMarks(s.cfg.KratosStepUpTTL, kratosMaxMarks)
	s.kratosLate = s.metrics.NewCounter("riskd_kratos_deadline_fallbacks_total")
	s.kratosNoAddress = s.metrics.NewCounter("riskd_kratos_no_address_total")
	s.decideKratos = s.engine.Decide
}

// kratosHook is one of the adapter's hook endpoints.
type kratosHook struct {
	event features.EventType
	after bool // the identity is known (login: the credentials were checked)
}

func parseKratosHook(name string) (kratosHook, bool) {
	switch name {
	case "login/before":
		return kratosHook{event: features.Login}, true
	case "login/after":
		return kratosHook{event: features.Login, after: true}, true
	case "registration/before":
		return kratosHook{event: features.Registration}, true
	case "registration/after":
		return kratosHook{event: features.Registration, after: true}, true
	}
	return kratosHook{}, false
}

// kratosContext is what a hook's body tells beyond the event: the session's level and the identity.
type kratosContext struct {
	aal      string // the session's authenticator assurance level (login/after)
	identity string
}

// handleKratos serves the adapter's endpoints; name is the path after kratosPrefix.
func (s *Server) handleKratos(ctx *fasthttp.RequestCtx, name string) {
	if name == "session" {
		s.handleKratosSession(ctx)
		return
	}
	hook, ok := parseKratosHook(name)
	if !ok {
		writeError(ctx, errNotFound)
		return
	}
	start := time.Now()
	who, overloaded, ok := s.admit(ctx, start)
	if !ok {
		return
	}
	// The request counts in flight until its evaluation ends, which may be after the answer (kratosDecide):
	// evaluations a stalled backend holds keep counting against MaxInflight, and past it hooks get the fail
	// policy at once instead of piling up goroutines.
	inflight := true
	defer func() {
		if inflight {
			s.inflight.Add(-1)
		}
	}()
	tenant, ae := kratosTenant(ctx, who)
	if ae != nil {
		writeError(ctx, ae)
		return
	}
	st := s.acquire()
	var kc kratosContext
	if ae := decodeKratosHook(&st.parser, ctx.PostBody(), hook, s.cfg.KratosIPHeader, &st.event, &kc); ae != nil {
		s.release(st)
		writeError(ctx, ae)
		return
	}
	st.event.Tenant = tenant
	st.event.Received = start
	identity := strings.Clone(kc.identity) // kc's strings live in st, which is released before the answer

	if hook.event == features.Login && hook.after && kc.aal == "aal2" {
		// The second factor of a login riskd stepped up (or of any aal2 upgrade): nothing new to decide.
		s.kratosSecondFactor(&st.event, identity)
		s.release(st)
		writeKratosPass(ctx, "allow", "", false, false)
		return
	}

	var d engine.Decision
	switch {
	case overloaded:
		s.shed.Inc()
		s.engine.Fallback(&st.event, &d, "riskd is overloaded; this is the configured fail-policy decision")
		s.release(st)
	case !st.event.IP.IsValid():
		s.kratosNoAddress.Inc()
		s.engine.Fallback(&st.event, &d, "the hook carried no client address ("+s.cfg.KratosIPHeader+"); this is the configured fail-policy decision")
		s.release(st)
	default:
		var err error
		inflight = false // kratosDecide takes it over
		if d, err = s.kratosDecide(st); err != nil {
			writeError(ctx, err)
			return
		}
	}
	s.answerKratos(ctx, hook, tenant, identity, &d)
}

// kratosDecide decides on st.event within the adapter's deadline, and past it returns the fail policy's
// decision. It takes st and the request's count in flight over, and releases both once the decision is made,
// which may be after it returned: the evaluation goes on (it updates state as any decision does), only its
// answer is no longer awaited.
func (s *Server) kratosDecide(st *requestState) (engine.Decision, error) {
	// What the fail policy reads, copied before the evaluation starts writing the event (its time) and while
	// st is certainly ours: the event's strings live in st, released by whoever finishes last.
	ev := features.Event{Type: st.event.Type, Tenant: strings.Clone(st.event.Tenant), Channel: strings.Clone(st.event.Channel), Time: st.event.Time}
	done := make(chan error, 1)
	go func() { done <- s.decideKratos(&st.event, &st.decision) }()
	timer := time.NewTimer(s.cfg.KratosDeadline)
	defer timer.Stop()
	select {
	case err := <-done:
		d := st.decision
		d.Reasons = append([]engine.Reason(nil), st.decision.Reasons...) // st's are reused once released
		s.release(st)
		s.inflight.Add(-1)
		return d, err
	case <-timer.C:
		s.kratosLate.Inc()
		go func() {
			<-done
			s.release(st)
			s.inflight.Add(-1)
		}()
		var d engine.Decision
		s.engine.Fallback(&ev, &d, "riskd did not decide within the Kratos adapter's deadline; this is the configured fail-policy decision")
		return d, nil
	}
}

// answerKratos answers a hook with decision d.
func (s *Server) answerKratos(ctx *fasthttp.RequestCtx, hook kratosHook, tenant, identity string, d *engine.Decision) {
	fallback := len(d.Reasons) == 1 && d.Reasons[0].Code == engine.CodeFailPolicy
	switch {
	case d.Action == rules.Deny:
		writeKratosRefusal(ctx, KratosMessageDenied,
			"This sign-in was refused to protect the account. If it was you, contact support and quote reference "+
				strconv.FormatUint(d.EvaluationID, 16)+".", d.EvaluationID)
	case d.Action == rules.StepUp && hook.event == features.Login && hook.after:
		if !s.kratosMarks.mark(tenant, identity, d.EvaluationID, time.Now()) {
			writeKratosRefusal(ctx, KratosMessageStepUpUnavailable,
				"This sign-in needs a second verification that cannot be offered right now. Please try again later.", d.EvaluationID)
			return
		}
		writeKratosPass(ctx, "step_up", appendHex(d.EvaluationID), true, fallback)
	default:
		// A step-up before the credentials are checked, or at registration, has no second factor to ask for:
		// the flow goes on, and the login that follows is decided on its own.
		writeKratosPass(ctx, d.Action.String(), appendHex(d.EvaluationID), false, fallback)
	}
}

// kratosSecondFactor clears the identity's mark after a login at aal2 and reports the passed second factor,
// which teaches riskd the device when it names the stepped-up decision.
func (s *Server) kratosSecondFactor(ev *features.Event, identity string) {
	evaluation, marked := s.kratosMarks.clear(ev.Tenant, identity)
	if !marked {
		return
	}
	o := features.Outcome{Type: features.MFAPassed, UserID: identity, IP: ev.IP, DeviceID: ev.DeviceID,
		UserAgent: ev.UserAgent, Tenant: ev.Tenant, EvaluationID: appendHex(evaluation)}
	if err := s.engine.Record(&o); err != nil {
		s.log.Warn("kratos adapter: recording a passed second factor", "err", err)
	}
}

func appendHex(id uint64) string { return string(appendHex64(nil, id)) }

// writeKratosPass lets the flow go on. Kratos reads nothing of a 200 (response.parse is off); the body is for
// logs and tests.
func writeKratosPass(ctx *fasthttp.RequestCtx, decision, evaluation string, aal2, fallback bool) {
	b := append([]byte(nil), `{"decision":`...)
	b = appendString(b, decision)
	if evaluation != "" {
		b = append(b, `,"evaluation_id":`...)
		b = appendString(b, evaluation)
	}
	if aal2 {
		b = append(b, `,"required_aal":"aal2"`...)
	}
	b = append(b, `,"fallback":`...)
	b = strconv.AppendBool(b, fallback)
	b = append(b, '}')
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(b)
}

// writeKratosRefusal refuses the flow in Kratos's web_hook `messages` format: with can_interrupt, Kratos fails
// the flow and shows text; id lets a UI act on it.
func writeKratosRefusal(ctx *fasthttp.RequestCtx, id int, text string, evaluation uint64) {
	b := append([]byte(nil), `{"messages":[{"instance_ptr":"#/","messages":[{"id":`...)
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, `,"text":`...)
	b = appendString(b, text)
	b = append(b, `,"type":"error","context":{"evaluation_id":"`...)
	b = appendHex64(b, evaluation)
	b = append(b, `"}}]}]}`...)
	ctx.SetStatusCode(fasthttp.StatusForbidden)
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(b)
}

// kratosTenant reads the tenant from the hook URL's query (?tenant=brand-a), since Kratos's body carries none,
// and refuses one the caller's key may not act for.
func kratosTenant(ctx *fasthttp.RequestCtx, who caller) (string, *apiError) {
	tenant := defaultTenant
	if t := ctx.QueryArgs().Peek("tenant"); len(t) > 0 {
		if len(t) > maxTenantLen || !validTenant(string(t)) {
			return "", badField("invalid_tenant", "tenant", "tenant (in the query) may hold only letters, digits, '_', '-' and '.', up to %d bytes", maxTenantLen)
		}
		tenant = string(t)
	}
	if !who.tenantAllowed(tenant) {
		return "", errForbiddenTenant
	}
	return tenant, nil
}

// decodeKratosHook decodes a hook's body, as the Jsonnet templates of integrations/kratos write it:
//
//	{"flow": {"id", "type": "browser"|"api", "active": "password", "requested_aal": "aal1"},
//	 "identity": {"id"}, "session": {"authenticator_assurance_level"},
//	 "request_headers": {"True-Client-Ip": ["203.0.113.7"], "User-Agent": ["..."]}, "device_id": "..."}
//
// Unknown fields are refused, as on /v1/decide. The client's address comes from the request header named
// ipHeader; its absence leaves ev.IP invalid, which the caller answers with the fail policy.
func decodeKratosHook(p *fastjson.Parser, body []byte, hook kratosHook, ipHeader string, ev *features.Event, kc *kratosContext) *apiError {
	o, ae := decodeObject(p, body)
	if ae != nil {
		return ae
	}
	ev.Type = hook.event
	ev.Channel = "web"
	stage := "before"
	if hook.after {
		stage = "after"
	}
	addAttr(ev, "kratos_stage", stage)
	var hasIdentity bool
	o.Visit(func(key []byte, v *fastjson.Value) {
		if ae != nil {
			return
		}
		switch string(key) {
		case "flow":
			ae = decodeKratosFlow(v, ev)
		case "identity":
			var id string
			if id, ae = kratosField(v, "identity", "id", maxIDLen); ae == nil && id != "" && id != nilUUID {
				kc.identity, hasIdentity = id, true
			}
		case "session":
			if kc.aal, ae = kratosField(v, "session", "authenticator_assurance_level", 8); ae == nil && kc.aal != "" {
				if !validAAL(kc.aal) {
					ae = badField("invalid_aal", "session.authenticator_assurance_level", "authenticator_assurance_level must be aal0, aal1, aal2 or aal3")
				} else {
					addAttr(ev, "aal", kc.aal)
				}
			}
		case "request_headers":
			ae = decodeKratosHeaders(v, ipHeader, ev)
		case "device_id":
			ev.DeviceID, ae = fieldString(v, "device_id", maxIDLen)
		default:
			ae = badField("unknown_field", string(key), "unknown field %q", key)
		}
	})
	if ae != nil {
		return ae
	}
	switch {
	case hook.event == features.Login && hook.after && !hasIdentity:
		return badField("missing_field", "identity.id", "identity.id is required after a login")
	case hook.event == features.Login && hook.after && kc.aal == "":
		return badField("missing_field", "session.authenticator_assurance_level", "session.authenticator_assurance_level is required after a login")
	case !hook.after && hasIdentity:
		return badField("unknown_field", "identity", "a before hook has no identity; send identity to the after hook")
	}
	ev.UserID = kc.identity
	if hook.event == features.Login && hook.after {
		ev.CredentialsValid, ev.HasCredentials = true, true // Kratos calls the after hook once the credentials are checked
	}
	return nil
}

// nilUUID is the id Kratos gives an identity not yet persisted (a registration's pre-persist hook).
const nilUUID = "00000000-0000-0000-0000-000000000000"

func validAAL(s string) bool { return len(s) == 4 && s[:3] == "aal" && s[3] >= '0' && s[3] <= '3' }

func addAttr(ev *features.Event, key, value string) {
	if ev.NumAttributes < len(ev.Attributes) {
		ev.Attributes[ev.NumAttributes] = features.Attribute{Key: key, Value: value}
		ev.NumAttributes++
	}
}

// kratosField reads the string member name of the object v (field obj), such as identity.id.
func kratosField(v *fastjson.Value, obj, name string, maxLen int) (string, *apiError) {
	if v.Type() == fastjson.TypeNull {
		return "", nil
	}
	o, err := v.Object()
	if err != nil {
		return "", badField("invalid_type", obj, "%s must be an object", obj)
	}
	var out string
	var ae *apiError
	o.Visit(func(key []byte, m *fastjson.Value) {
		if ae == nil && string(key) == name {
			out, ae = fieldString(m, obj+"."+name, maxLen)
		}
	})
	return out, ae
}

// decodeKratosFlow reads the flow's type (browser or api), its active method and requested level.
func decodeKratosFlow(v *fastjson.Value, ev *features.Event) *apiError {
	o, err := v.Object()
	if err != nil {
		return badField("invalid_type", "flow", "flow must be an object")
	}
	var ae *apiError
	o.Visit(func(key []byte, m *fastjson.Value) {
		if ae != nil {
			return
		}
		var s string
		switch string(key) {
		case "id":
			_, ae = fieldString(m, "flow.id", maxIDLen)
		case "type":
			if s, ae = fieldString(m, "flow.type", 16); ae == nil && s != "" {
				switch s {
				case "browser":
					ev.Channel = "web"
				case "api":
					ev.Channel = "api" // a native app's flow, or a server's
				default:
					ae = badField("invalid_type", "flow.type", "flow.type must be browser or api")
					return
				}
				addAttr(ev, "kratos_flow_type", s)
			}
		case "active":
			if s, ae = fieldString(m, "flow.active", 32); ae == nil && s != "" {
				addAttr(ev, "kratos_method", s)
			}
		case "requested_aal":
			if s, ae = fieldString(m, "flow.requested_aal", 8); ae == nil && s != "" && !validAAL(s) {
				ae = badField("invalid_aal", "flow.requested_aal", "requested_aal must be aal0, aal1, aal2 or aal3")
			}
		default:
			ae = badField("unknown_field", "flow."+string(key), "unknown field flow.%s", key)
		}
	})
	return ae
}

// decodeKratosHeaders takes the client's address and user agent from the request headers Kratos forwards (an
// object of arrays, as Go's http.Header marshals; a plain string is read too). Other headers are ignored:
// Kratos forwards an allow-list of its own.
func decodeKratosHeaders(v *fastjson.Value, ipHeader string, ev *features.Event) *apiError {
	o, err := v.Object()
	if err != nil {
		return badField("invalid_type", "request_headers", "request_headers must be an object")
	}
	var ae *apiError
	o.Visit(func(key []byte, m *fastjson.Value) {
		if ae != nil {
			return
		}
		k := string(key)
		isIP, isUA := strings.EqualFold(k, ipHeader), strings.EqualFold(k, "User-Agent")
		if !isIP && !isUA {
			return
		}
		field := "request_headers." + k
		val, ae2 := headerValue(m, field)
		if ae = ae2; ae != nil || val == "" {
			return
		}
		if isIP {
			a, err := netip.ParseAddr(val)
			if err != nil || a.Zone() != "" {
				ae = badField("invalid_ip", field, "%s must hold one IPv4 or IPv6 address without zone", k)
				return
			}
			ev.IP = a.Unmap()
			return
		}
		ev.UserAgent = truncateUTF8(val, maxUserAgentLen)
	})
	return ae
}

// headerValue reads a header's first value: a string, or an array of strings.
func headerValue(v *fastjson.Value, field string) (string, *apiError) {
	if v.Type() == fastjson.TypeArray {
		a, _ := v.Array()
		if len(a) == 0 {
			return "", nil
		}
		v = a[0]
	}
	b, err := v.StringBytes()
	if err != nil {
		return "", badField("invalid_type", field, "%s must be a string or an array of strings", field)
	}
	if !utf8.Valid(b) {
		return "", badField("invalid_string", field, "%s is not valid UTF-8", field)
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return "", badField("invalid_string", field, "%s contains control characters", field)
		}
	}
	return b2s(b), nil
}

// truncateUTF8 cuts s to at most n bytes on a character boundary: a browser's overlong user agent is its own,
// and must not fail its login.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// handleKratosSession answers the application's question after a login: which authenticator assurance level
// riskd requires of this session. The body is the session as Kratos's whoami returns it; riskd reads
// identity.id and authenticator_assurance_level and ignores the rest.
func (s *Server) handleKratosSession(ctx *fasthttp.RequestCtx) {
	who, err := s.authorize(ctx, ScopeDecide)
	if err != nil {
		s.writeAuthError(ctx, err)
		return
	}
	if ae := requireJSONPost(ctx); ae != nil {
		writeError(ctx, ae)
		return
	}
	tenant, ae := kratosTenant(ctx, who)
	if ae != nil {
		writeError(ctx, ae)
		return
	}
	st := s.acquire()
	defer s.release(st)
	o, ae := decodeObject(&st.parser, ctx.PostBody())
	if ae != nil {
		writeError(ctx, ae)
		return
	}
	var identity, aal string
	o.Visit(func(key []byte, v *fastjson.Value) {
		if ae != nil {
			return
		}
		switch string(key) {
		case "identity":
			identity, ae = kratosField(v, "identity", "id", maxIDLen)
		case "authenticator_assurance_level":
			if aal, ae = fieldString(v, "authenticator_assurance_level", 8); ae == nil && aal != "" && !validAAL(aal) {
				ae = badField("invalid_aal", "authenticator_assurance_level", "authenticator_assurance_level must be aal0, aal1, aal2 or aal3")
			}
		}
	})
	switch {
	case ae != nil:
		writeError(ctx, ae)
		return
	case identity == "":
		writeError(ctx, badField("missing_field", "identity.id", "identity.id is required: send the session as whoami returns it"))
		return
	case aal == "":
		writeError(ctx, badField("missing_field", "authenticator_assurance_level", "authenticator_assurance_level is required: send the session as whoami returns it"))
		return
	}
	required := "aal1"
	evaluation, marked := s.kratosMarks.pending(tenant, identity, time.Now())
	if marked && aal < "aal2" {
		required = "aal2"
	}
	b := append([]byte(nil), `{"required_aal":"`...)
	b = append(b, required...)
	b = append(b, '"')
	if required == "aal2" {
		b = append(b, `,"evaluation_id":"`...)
		b = appendHex64(b, evaluation)
		b = append(b, '"')
	}
	b = append(b, '}')
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(b)
}

// stepUpMarks holds the identities that owe a second factor since a login riskd stepped up, with the
// decision's evaluation id, until they log in at aal2 or ttl passes. Bounded by max: when full of marks that
// have not expired, mark refuses, and the login is refused rather than let through at aal1 unmarked.
type stepUpMarks struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	marks map[string]stepUpMark // by tenant + "\x00" + identity
}

type stepUpMark struct {
	evaluation uint64
	expires    time.Time
}

func newStepUpMarks(ttl time.Duration, max int) *stepUpMarks {
	return &stepUpMarks{ttl: ttl, max: max, marks: make(map[string]stepUpMark)}
}

func markKey(tenant, identity string) string { return tenant + "\x00" + identity }

func (m *stepUpMarks) mark(tenant, identity string, evaluation uint64, now time.Time) bool {
	k := markKey(tenant, identity)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.marks[k]; !ok && len(m.marks) >= m.max {
		for key, v := range m.marks {
			if now.After(v.expires) {
				delete(m.marks, key)
			}
		}
		if len(m.marks) >= m.max {
			return false
		}
	}
	m.marks[k] = stepUpMark{evaluation: evaluation, expires: now.Add(m.ttl)}
	return true
}

func (m *stepUpMarks) pending(tenant, identity string, now time.Time) (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.marks[markKey(tenant, identity)]
	if !ok || now.After(v.expires) {
		return 0, false
	}
	return v.evaluation, true
}

func (m *stepUpMarks) clear(tenant, identity string) (uint64, bool) {
	k := markKey(tenant, identity)
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.marks[k]
	delete(m.marks, k)
	return v.evaluation, ok
}
