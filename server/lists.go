package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/lists"
)

// handleLists serves /v1/lists[/{name}[/remove]] and /v1/exceptions[/{id}] (admin scope). Lists and
// exceptions apply to every tenant, so tenant-limited keys may not change them. parts are the path's decoded
// segments after /v1.
func (s *Server) handleLists(ctx *fasthttp.RequestCtx, parts []string) {
	who, err := s.authorize(ctx, ScopeAdmin)
	if err != nil {
		s.writeAuthError(ctx, err)
		return
	}
	if s.cfg.Lists == nil {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: "no_lists", message: "riskd runs without lists"})
		return
	}
	if !who.global() {
		writeError(ctx, errForbiddenGlobal)
		return
	}
	if len(parts) >= 2 {
		field, code := "list", "invalid_list_name"
		if parts[0] == "exceptions" {
			field, code = "exception_id", "invalid_exception_id"
		}
		if _, ae := pathID(parts[1], maxPathName, code, field); ae != nil {
			writeError(ctx, ae)
			return
		}
	}
	switch {
	case parts[0] == "lists" && len(parts) == 1:
		if !ctx.IsGet() {
			writeError(ctx, methodNotAllowed("GET"))
			return
		}
		writeJSON(ctx, map[string]any{"lists": nonNil(s.cfg.Lists.List(false))})
	case parts[0] == "lists" && len(parts) == 2:
		s.handleList(ctx, who, parts[1])
	case parts[0] == "lists" && len(parts) == 3 && parts[2] == "remove":
		s.removeFromList(ctx, who, parts[1])
	case parts[0] == "exceptions" && len(parts) == 1:
		if !ctx.IsGet() {
			writeError(ctx, methodNotAllowed("GET"))
			return
		}
		writeJSON(ctx, map[string]any{"exceptions": s.cfg.Lists.ExceptionList()})
	case parts[0] == "exceptions" && len(parts) == 2:
		s.handleException(ctx, who, parts[1])
	default:
		writeError(ctx, errNotFound)
	}
}

// maxPathName bounds a list name or exception id read from the path; the lists package allows 64 bytes.
const maxPathName = 64

// listsError maps the lists package's errors to what the client sees.
func listsError(err error) error {
	switch {
	case errors.Is(err, lists.ErrNoList):
		return &apiError{status: fasthttp.StatusNotFound, code: "no_such_list", message: err.Error()}
	case errors.Is(err, lists.ErrFull):
		return &apiError{status: fasthttp.StatusConflict, code: "too_many_lists", message: err.Error()}
	case errors.Is(err, lists.ErrKind), errors.Is(err, lists.ErrValue), errors.Is(err, lists.ErrListName), errors.Is(err, lists.ErrException):
		return &apiError{status: fasthttp.StatusBadRequest, code: "invalid_list_change", message: err.Error()}
	}
	return err
}

// listPut is the body of PUT /v1/lists/{name}: entries to add or replace.
type listPut struct {
	Kind    string        `json:"kind"`
	Entries []lists.Entry `json:"entries"`
}

func (s *Server) handleList(ctx *fasthttp.RequestCtx, who caller, name string) {
	reg := s.cfg.Lists
	switch {
	case ctx.IsGet():
		for _, in := range reg.List(true) {
			if in.Name == name {
				writeJSON(ctx, in)
				return
			}
		}
		writeError(ctx, listsError(lists.ErrNoList))
	case ctx.IsPut():
		var body listPut
		if err := decodeStrictJSON(ctx, &body); err != nil {
			writeError(ctx, err)
			return
		}
		kind, ok := lists.ParseKind(body.Kind)
		if !ok {
			writeError(ctx, badField("invalid_kind", "kind", "kind must be ip, asn, country, device, user or value"))
			return
		}
		v, err := s.changeLists(ctx, who, control.Lists, func(r *lists.Registry) error { return r.Put(name, kind, body.Entries) })
		if err != nil {
			writeError(ctx, err)
			return
		}
		s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "list.put", Target: "list:" + name, Result: "ok",
			Detail: fmt.Sprintf("%d entries (control version %d)", len(body.Entries), v.Number)})
		writeJSON(ctx, map[string]any{"name": name, "kind": kind.String(), "entries_put": len(body.Entries), "control_version": v.Number})
	case ctx.IsDelete():
		v, err := s.changeLists(ctx, who, control.Lists, func(r *lists.Registry) error { return r.Delete(name) })
		if err != nil {
			writeError(ctx, err)
			return
		}
		s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "list.delete", Target: "list:" + name, Result: "ok",
			Detail: fmt.Sprintf("control version %d", v.Number)})
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	default:
		writeError(ctx, methodNotAllowed("GET, PUT, DELETE"))
	}
}

func (s *Server) removeFromList(ctx *fasthttp.RequestCtx, who caller, name string) {
	if !ctx.IsPost() {
		writeError(ctx, methodNotAllowed("POST"))
		return
	}
	var body struct {
		Values []string `json:"values"`
	}
	if err := decodeStrictJSON(ctx, &body); err != nil {
		writeError(ctx, err)
		return
	}
	removed := 0
	v, err := s.changeLists(ctx, who, control.Lists, func(r *lists.Registry) error {
		removed = 0 // the change may run again over a newer version
		for _, v := range body.Values {
			had, err := r.Remove(name, v)
			if err != nil {
				return err
			}
			if had {
				removed++
			}
		}
		return nil
	})
	if err != nil {
		writeError(ctx, err)
		return
	}
	s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "list.remove", Target: "list:" + name, Result: "ok",
		Detail: fmt.Sprintf("%d of %d values removed (control version %d)", removed, len(body.Values), v.Number)})
	writeJSON(ctx, map[string]any{"removed": removed, "control_version": v.Number})
}

func (s *Server) handleException(ctx *fasthttp.RequestCtx, who caller, id string) {
	switch {
	case ctx.IsPut():
		var x lists.Exception
		if err := decodeStrictJSON(ctx, &x); err != nil {
			writeError(ctx, err)
			return
		}
		x.ID = id
		var stored lists.Exception
		_, err := s.changeLists(ctx, who, control.Exceptions, func(r *lists.Registry) error {
			var err error
			stored, err = r.PutException(x)
			return err
		})
		if err != nil {
			writeError(ctx, err)
			return
		}
		s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "exception.put", Target: "exception:" + id, Result: "ok", Detail: stored.Summary()})
		writeJSON(ctx, stored)
	case ctx.IsDelete():
		errNoException := &apiError{status: fasthttp.StatusNotFound, code: "no_such_exception", message: "no exception " + id}
		_, err := s.changeLists(ctx, who, control.Exceptions, func(r *lists.Registry) error {
			had, err := r.DeleteException(id)
			if err == nil && !had {
				return errNoException // nothing to change: no version is committed
			}
			return err
		})
		if err != nil {
			writeError(ctx, err)
			return
		}
		s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "exception.delete", Target: "exception:" + id, Result: "ok"})
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	default:
		writeError(ctx, methodNotAllowed("PUT, DELETE"))
	}
}

// decodeStrictJSON decodes an admin request's JSON body, refusing another Content-Type and unknown fields as the
// decision API does.
func decodeStrictJSON(ctx *fasthttp.RequestCtx, v any) error {
	if ae := requireJSON(ctx); ae != nil {
		return ae
	}
	dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badField("invalid_json", "", "the body is not the expected JSON: %v", err)
	}
	return nil
}
