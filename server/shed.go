package server

import (
	"math/rand/v2"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/riskd/riskd/features"
)

// Shedding: what riskd does with a decide or events request once it is past its capacity.
//
// Past capacity most requests are refused, so a refusal must cost as little of the CPU that the answered ones
// need as it can: a profile of the overload hold (docs/OVERLOAD.md) puts nearly all of a refusal's cost in the
// socket calls every request pays (its read, its write, waking its connection), which riskd cannot avoid
// without leaving the request to time out, and the rest in what the handler did before it got to refuse
// (routing, the Host check, authentication, the JSON error built per request). So the decision comes first,
// before anything else is done with the request, and the answer is pre-rendered: a refusal reads one header
// (X-Request-Start) and the clock, writes a few fixed bytes, allocates nothing and changes no state but the
// shed counters.
//
// Refusing before authenticating is sound: the refusal says only that riskd is overloaded, which any caller
// can learn by being slow to be answered, and it spends nothing an unauthenticated flood could exhaust; the
// requests that get through are authenticated as ever.

// shedAnswer is the pre-rendered refusal: the same bytes writeError would write for errOverloaded.
type shedAnswer struct {
	body       []byte
	retryAfter []byte // the Retry-After header's value
	retryKey   []byte // its name, canonical, so that setting it normalises nothing
	jsonType   []byte
}

func newShedAnswer() shedAnswer {
	b := append([]byte(nil), `{"error":{"code":`...)
	b = appendString(b, errOverloaded.code)
	b = append(b, `,"message":`...)
	b = appendString(b, errOverloaded.message)
	b = append(b, "}}"...)
	return shedAnswer{body: b, retryAfter: []byte("1"), retryKey: []byte(fasthttp.HeaderRetryAfter),
		jsonType: []byte(contentTypeJSON)}
}

// stale reports whether a decide or events request is to be shed for its X-Request-Start age, and counts it in
// the shed-for-age metrics if so. Without the queue controller (Config.QueueTarget) the budget
// (Config.QueueBudget) sheds every request that waited longer, as of now (the zero time: read the clock); with
// it, the controller picks requests at random and refuses those it picks unless they already waited past the
// budget (queueControl), so that refusals come back no later than answers.
func (s *Server) stale(ctx *fasthttp.RequestCtx, now time.Time) bool {
	if s.cfg.QueueBudget <= 0 {
		return false
	}
	if s.queue != nil {
		// The draw comes first, and only while the controller sheds at all: a request it does not pick is not
		// even looked at; only one it picks has its stamp read.
		if s.queue.probability() == 0 || !s.queue.pick(rand.Float64()) {
			return false
		}
		if age, ok := queueAge(ctx, orNow(now)); !ok || s.queue.spare(age) {
			return false
		}
		s.shedEarly.Inc()
		return true
	}
	if age, ok := queueAge(ctx, orNow(now)); !ok || age <= s.cfg.QueueBudget { // an unstamped request is never shed for its wait
		return false
	}
	s.shedLate.Inc()
	return true
}

// orNow is t, or the clock's time for the zero time: a caller that has not read the clock leaves it to the
// one path that needs it.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// observeWait feeds the queue controller an authenticated request's wait (see queueControl).
func (s *Server) observeWait(ctx *fasthttp.RequestCtx, now time.Time) {
	if s.queue == nil {
		return
	}
	if age, ok := queueAge(ctx, now); ok {
		s.queue.observe(age, now)
	}
}

// full reports whether as many decide and events requests are being evaluated as Config.MaxInflight allows.
func (s *Server) full() bool { return s.inflight.Load() >= int64(s.cfg.MaxInflight) }

// shedsFirst reports whether shedFirst decides on a request: one whose target is origin-form /v1/events, or
// /v1/decide unless --shed fallback leaves that to handleDecide.
func (s *Server) shedsFirst(ctx *fasthttp.RequestCtx) bool {
	target := ctx.Request.Header.RequestURI()
	return ctx.IsPost() && (isPathTarget(target, "/v1/events") || !s.cfg.ShedWithFallback && isPathTarget(target, "/v1/decide"))
}

// shedFirst refuses an overloaded decide or events request before anything else is done with it, and reports
// whether it did. Only requests with the origin-form targets clients send are decided on here (others are
// refused, when overloaded, after routing), and with --shed fallback a decide request is left to
// handleDecide, which answers it with the fail policy's decision.
func (s *Server) shedFirst(ctx *fasthttp.RequestCtx) bool {
	if !s.shedsFirst(ctx) || !s.full() && !s.stale(ctx, time.Time{}) {
		return false
	}
	s.writeShed(ctx)
	s.count(fasthttp.StatusServiceUnavailable)
	return true
}

// isPathTarget reports whether a request target is path, with or without a query.
func isPathTarget(target []byte, path string) bool {
	return len(target) >= len(path) && string(target[:len(path)]) == path &&
		(len(target) == len(path) || target[len(path)] == '?')
}

// writeShed refuses a request because riskd is overloaded, with the pre-rendered answer and a hint of when to
// come back.
func (s *Server) writeShed(ctx *fasthttp.RequestCtx) {
	s.shed.Inc()
	ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	ctx.Response.Header.SetContentTypeBytes(s.shedAnswer.jsonType)
	ctx.Response.Header.SetCanonical(s.shedAnswer.retryKey, s.shedAnswer.retryAfter)
	ctx.Response.SetBodyRaw(s.shedAnswer.body)
}

// decideFallback answers an overloaded decide request with the fail policy's decision for its type and tenant
// (--shed fallback). Only those two fields are read: the rest of the body, which a decision would validate and
// use, plays no part in a fail-policy answer.
func (s *Server) decideFallback(ctx *fasthttp.RequestCtx, who caller, st *requestState, start time.Time) {
	if ae := decodeFallback(&st.parser, ctx.PostBody(), &st.event); ae != nil {
		writeError(ctx, ae)
		return
	}
	if !who.tenantAllowed(st.event.Tenant) {
		writeError(ctx, errForbiddenTenant)
		return
	}
	st.event.Received = start
	s.shed.Inc()
	s.engine.Fallback(&st.event, &st.decision, fallbackReason)
	b, msg := appendDecision(st.out[:0], &st.decision, time.Since(start).Microseconds(), st.msg)
	st.msg = msg
	st.out = append(b, '}')
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(st.out)
}

const fallbackReason = "riskd is overloaded; this is the configured fail-policy decision"

// decodeFallback reads what a fail-policy decision depends on from a decide body: its type (required) and
// tenant.
func decodeFallback(p *fastjson.Parser, body []byte, ev *features.Event) *apiError {
	o, ae := decodeObject(p, body)
	if ae != nil {
		return ae
	}
	v := o.Get("type")
	if v == nil {
		return badField("missing_field", "type", "type is required")
	}
	var hasType bool
	if ev.Type, hasType, ae = fieldType(v, features.ParseEventType, wantEventType); ae != nil {
		return ae
	}
	if !hasType {
		return badField("missing_field", "type", "type is required")
	}
	if v := o.Get("tenant"); v != nil {
		if ev.Tenant, ae = fieldTenant(v); ae != nil {
			return ae
		}
	}
	if ev.Tenant == "" {
		ev.Tenant = defaultTenant
	}
	return nil
}
