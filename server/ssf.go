package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/signals"
)

// isSSFPath reports whether p is an endpoint of the Shared Signals transmitter.
func isSSFPath(p string) bool {
	return p == signals.PathDiscovery || strings.HasPrefix(p, "/ssf/")
}

// handleSSF serves the Shared Signals transmitter (package signals). Discovery, the JWKS and polling are
// public (a poll presents its stream's token) and served on every listener; stream management needs a key
// for every tenant with the admin scope, and is served where the admin endpoints are.
func (s *Server) handleSSF(ctx *fasthttp.RequestCtx, p string, admin bool) {
	t := s.cfg.Signals
	switch {
	case p == signals.PathDiscovery:
		if !ctx.IsGet() {
			writeError(ctx, methodNotAllowed("GET"))
			return
		}
		writeJSON(ctx, t.Discovery())
		return
	case p == signals.PathJWKS:
		if !ctx.IsGet() {
			writeError(ctx, methodNotAllowed("GET"))
			return
		}
		writeJSON(ctx, t.JWKS())
		return
	case strings.HasPrefix(p, signals.PathPoll):
		s.handleSSFPoll(ctx, p[len(signals.PathPoll):])
		return
	case !admin:
		writeError(ctx, errNotFound)
		return
	}
	who, ok := s.authorizeGlobal(ctx, ScopeAdmin)
	if !ok {
		return
	}
	var action, target string
	var err error
	switch p {
	case signals.PathStream:
		action, target, err = s.handleSSFStream(ctx)
	case signals.PathStatus:
		action, target, err = s.handleSSFStatus(ctx)
	case signals.PathSubjectsAdd, signals.PathSubjectsRemove:
		action, target, err = s.handleSSFSubject(ctx, p == signals.PathSubjectsRemove)
	case signals.PathVerify:
		action, target, err = s.handleSSFVerify(ctx)
	default:
		writeError(ctx, errNotFound)
		return
	}
	if err != nil {
		writeError(ctx, err)
	}
	if action != "" {
		result := "ok"
		if err != nil {
			result = "refused"
		}
		s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: action, Target: target, Result: result})
	}
}

// decodeSSF reads a JSON body into v, naming the field a value of the wrong type was given for. The body must
// be declared JSON (requireJSON): without keys, a web page could otherwise have a browser create a stream
// pushing every user's risk events to a receiver of its choosing, with a text/plain POST.
func decodeSSF(ctx *fasthttp.RequestCtx, v any) error {
	if ae := requireJSON(ctx); ae != nil {
		return ae
	}
	body := ctx.PostBody()
	if len(bytes.TrimSpace(body)) == 0 {
		return badField("invalid_json", "body", "the body must be a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badField("invalid_json", te.Field, "%s must be a JSON %s", te.Field, te.Type.Kind())
		}
		return badField("invalid_json", "body", "the body is not valid JSON: %v", err)
	}
	return nil
}

func streamIDArg(ctx *fasthttp.RequestCtx) string { return string(ctx.QueryArgs().Peek("stream_id")) }

// handleSSFStream serves the configuration endpoint: GET (one stream by stream_id, else all), POST (create),
// PATCH and PUT (update), DELETE.
func (s *Server) handleSSFStream(ctx *fasthttp.RequestCtx) (action, target string, err error) {
	t := s.cfg.Signals
	switch {
	case ctx.IsGet():
		id := streamIDArg(ctx)
		if id == "" {
			writeJSON(ctx, t.Streams())
			return "", "", nil
		}
		cfg, err := t.Stream(id)
		if err == nil {
			writeJSON(ctx, cfg)
		}
		return "", "", err
	case ctx.IsPost():
		var req signals.StreamRequest
		if err := decodeSSF(ctx, &req); err != nil {
			return "", "", err
		}
		cfg, err := t.CreateStream(&req)
		if err != nil {
			return "ssf.stream.create", "", err
		}
		writeJSON(ctx, cfg)
		ctx.SetStatusCode(fasthttp.StatusCreated)
		return "ssf.stream.create", "stream:" + cfg.StreamID, nil
	case ctx.IsPatch() || ctx.IsPut():
		var req signals.StreamRequest
		if err := decodeSSF(ctx, &req); err != nil {
			return "", "", err
		}
		if req.StreamID == "" {
			return "", "", badField("invalid_stream", "stream_id", "missing")
		}
		cfg, err := t.UpdateStream(&req)
		if err == nil {
			writeJSON(ctx, cfg)
		}
		return "ssf.stream.update", "stream:" + req.StreamID, err
	case ctx.IsDelete():
		id := streamIDArg(ctx)
		if id == "" {
			return "", "", badField("invalid_stream", "stream_id", "missing: give ?stream_id=")
		}
		if err := t.DeleteStream(id); err != nil {
			return "ssf.stream.delete", "stream:" + id, err
		}
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return "ssf.stream.delete", "stream:" + id, nil
	}
	return "", "", methodNotAllowed("GET, POST, PATCH, PUT, DELETE")
}

// handleSSFStatus serves the status endpoint: GET ?stream_id=, POST {stream_id, status, reason}.
func (s *Server) handleSSFStatus(ctx *fasthttp.RequestCtx) (action, target string, err error) {
	t := s.cfg.Signals
	switch {
	case ctx.IsGet():
		st, err := t.Status(streamIDArg(ctx))
		if err == nil {
			writeJSON(ctx, st)
		}
		return "", "", err
	case ctx.IsPost():
		var req signals.StreamStatus
		if err := decodeSSF(ctx, &req); err != nil {
			return "", "", err
		}
		st, err := t.SetStatus(req)
		if err == nil {
			writeJSON(ctx, st)
		}
		return "ssf.stream.status", fmt.Sprintf("stream:%s status:%s", req.StreamID, req.Status), err
	}
	return "", "", methodNotAllowed("GET, POST")
}

type subjectRequest struct {
	StreamID string           `json:"stream_id"`
	Subject  *signals.Subject `json:"subject"`
	Verified *bool            `json:"verified"`
}

// handleSSFSubject serves the add and remove subject endpoints (POST {stream_id, subject}).
func (s *Server) handleSSFSubject(ctx *fasthttp.RequestCtx, remove bool) (action, target string, err error) {
	if !ctx.IsPost() {
		return "", "", methodNotAllowed("POST")
	}
	var req subjectRequest
	if err := decodeSSF(ctx, &req); err != nil {
		return "", "", err
	}
	if req.Subject == nil {
		return "", "", badField("invalid_stream", "subject", "missing")
	}
	t := s.cfg.Signals
	action = "ssf.subject.add"
	if remove {
		action = "ssf.subject.remove"
		err = t.RemoveSubject(req.StreamID, req.Subject)
	} else {
		err = t.AddSubject(req.StreamID, req.Subject)
	}
	if err != nil {
		return action, "stream:" + req.StreamID, err
	}
	if remove {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	} else {
		ctx.SetStatusCode(fasthttp.StatusOK)
	}
	// The subject is a user id: the audit log names only the stream.
	return action, "stream:" + req.StreamID, nil
}

// handleSSFVerify serves the verification endpoint: POST {stream_id, state} queues a verification event.
func (s *Server) handleSSFVerify(ctx *fasthttp.RequestCtx) (action, target string, err error) {
	if !ctx.IsPost() {
		return "", "", methodNotAllowed("POST")
	}
	var req struct {
		StreamID string `json:"stream_id"`
		State    string `json:"state"`
	}
	if err := decodeSSF(ctx, &req); err != nil {
		return "", "", err
	}
	if err := s.cfg.Signals.Verify(req.StreamID, req.State); err != nil {
		return "", "", err
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return "", "", nil
}

// handleSSFPoll serves a polling receiver (RFC 8936): POST {ack, setErrs, maxEvents, returnImmediately} with
// its stream's token.
func (s *Server) handleSSFPoll(ctx *fasthttp.RequestCtx, id string) {
	if !ctx.IsPost() {
		writeError(ctx, methodNotAllowed("POST"))
		return
	}
	var req signals.PollRequest
	if len(bytes.TrimSpace(ctx.PostBody())) > 0 {
		if err := decodeSSF(ctx, &req); err != nil {
			writeError(ctx, err)
			return
		}
	} else {
		req.ReturnImmediately = true
	}
	resp, err := s.cfg.Signals.Poll(ctx.Done(), id, string(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)), &req)
	if err != nil {
		if errors.Is(err, signals.ErrUnauthorized) || errors.Is(err, signals.ErrStreamNotFound) {
			// Whether a stream exists is not told to whoever lacks its token.
			s.authFails.Inc()
			ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="riskd-ssf"`)
			writeError(ctx, errUnauthenticated)
			return
		}
		writeError(ctx, err)
		return
	}
	writeJSON(ctx, resp)
}
