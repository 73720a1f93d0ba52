package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/ruletest"
)

// The files of the lists and exceptions documents: the JSON List(true) and ExceptionList give.
const (
	listsFile      = "lists.json"
	exceptionsFile = "exceptions.json"
)

// ControlDocuments returns the documents of the control plane over eng and reg (nil: riskd runs without
// lists): the live and shadow rule sets, the lists and the exceptions. A rule set goes live as through
// PUT /v1/rules: compiled (resolving `extends:` with bases) and, the live one, tested over the serving GeoIP
// databases, through gate (waiting at most wait for it).
func ControlDocuments(eng *engine.Engine, reg *lists.Registry, gate *rules.Gate, wait time.Duration, bases rules.Bases) []control.Document {
	ruleDoc := func(name string, live bool) control.Document {
		return control.Document{Name: name,
			Prepare: func(files []control.File) (any, string, error) {
				var set *rules.Set
				err := gate.Do(wait, func() error {
					var err error
					if set, err = compileFiles(files, live, bases); err != nil || set == nil || !live || set.Source == rules.DefaultSource {
						return err
					}
					return ruletest.Run(set, ruletest.Options{Geo: eng.Extractor().Geo()}).Err()
				})
				if errors.Is(err, rules.ErrBusy) {
					err = fmt.Errorf("%w: %w", control.ErrBusy, err)
				}
				if err != nil || set == nil {
					return set, "", err
				}
				return set, set.Version, nil
			},
			Install: func(p any) {
				set, _ := p.(*rules.Set)
				if live {
					eng.SwapRules(set)
				} else {
					eng.SetShadow(set)
				}
			},
		}
	}
	docs := []control.Document{ruleDoc(control.Rules, true), ruleDoc(control.Shadow, false)}
	if reg == nil {
		return docs
	}
	docs = append(docs,
		control.Document{Name: control.Lists,
			Prepare: func(files []control.File) (any, string, error) {
				all, err := decodeDocument[lists.Info](files, listsFile)
				if err == nil {
					err = reg.Fresh().ReplaceLists(all) // checked on a scratch: the live lists stay until Install
				}
				return all, fmt.Sprintf("%d lists", len(all)), err
			},
			// Prepare checked it on a registry like reg: it cannot fail here.
			Install: func(p any) { _ = reg.ReplaceLists(p.([]lists.Info)) },
		},
		control.Document{Name: control.Exceptions,
			Prepare: func(files []control.File) (any, string, error) {
				all, err := decodeDocument[lists.Exception](files, exceptionsFile)
				if err == nil {
					err = reg.Fresh().ReplaceExceptions(all)
				}
				return all, fmt.Sprintf("%d exceptions", len(all)), err
			},
			Install: func(p any) { _ = reg.ReplaceExceptions(p.([]lists.Exception)) },
		})
	return docs
}

// compileFiles compiles a rule document's files: none is the built-in set for the live document and no set
// (nil) for the shadow one.
func compileFiles(files []control.File, live bool, bases rules.Bases) (*rules.Set, error) {
	switch {
	case len(files) == 0 && live:
		return rules.Default()
	case len(files) == 0:
		return nil, nil
	}
	name := control.Rules
	if len(files) == 1 {
		name = files[0].Name
	}
	return rules.CompileSourcesWith(name, ruleSources(files), bases)
}

// ruleSources are a rule document's files as the rule compiler reads them.
func ruleSources(files []control.File) []rules.Source {
	srcs := make([]rules.Source, len(files))
	for i, f := range files {
		srcs[i] = rules.Source{Name: f.Name, Data: []byte(f.Data)}
	}
	return srcs
}

// baseLookupWait bounds the read of a stored version that a rule set extends.
const baseLookupWait = 2 * time.Second

// VersionBases resolves the name a rule set extends, besides builtin, to a stored version of a rule document:
// `rules@N` is version N of the live set's document, `shadow@N` of the shadow's (the numbers GET
// /v1/control/{document}/versions lists). A stored version never changes, so a set extending one compiles
// alike on every instance and after every restart; get reads a version (a Plane's or a Store's Get).
func VersionBases(get func(ctx context.Context, doc string, n uint64) (control.Version, error)) rules.Bases {
	return func(name string) ([]rules.Source, error) {
		doc, num, _ := strings.Cut(name, "@")
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n == 0 || doc != control.Rules && doc != control.Shadow {
			return nil, fmt.Errorf("%w: name %q, or a stored version as rules@N or shadow@N", rules.ErrUnknownBase, rules.BaseBuiltin)
		}
		ctx, cancel := context.WithTimeout(context.Background(), baseLookupWait)
		defer cancel()
		v, err := get(ctx, doc, n)
		switch {
		case errors.Is(err, control.ErrNoVersion):
			return nil, fmt.Errorf("%w: %s has no version %d (it may have left the kept history)", rules.ErrUnknownBase, doc, n)
		case err != nil:
			return nil, fmt.Errorf("reading %s version %d: %w", doc, n, err)
		case len(v.Files) == 0:
			return nil, fmt.Errorf("%w: %s version %d holds no rule files (the built-in set, or no shadow): extend %q instead",
				rules.ErrUnknownBase, doc, n, rules.BaseBuiltin)
		}
		return ruleSources(v.Files), nil
	}
}

// decodeDocument reads the one JSON file, named name, of a lists or exceptions document; no file is none.
func decodeDocument[T any](files []control.File, name string) ([]T, error) {
	var all []T
	switch {
	case len(files) == 0:
		return all, nil
	case len(files) != 1 || files[0].Name != name:
		return nil, fmt.Errorf("the document holds one file, %s", name)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(files[0].Data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&all); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return all, nil
}

// ListsDocument encodes lists as the file of a lists document.
func ListsDocument(all []lists.Info) ([]control.File, error) { return encodeDocument(all, listsFile) }

func encodeDocument[T any](all []T, name string) ([]control.File, error) {
	if all == nil {
		all = []T{}
	}
	b, err := json.Marshal(all)
	if err != nil {
		return nil, err
	}
	return []control.File{{Name: name, Data: string(b)}}, nil
}

// maxNoteBytes bounds the note of a change.
const maxNoteBytes = 1024

// changeNote reads the note query parameter of a change: why it is made, kept with its version.
func changeNote(ctx *fasthttp.RequestCtx) (string, *apiError) {
	b := ctx.QueryArgs().Peek("note")
	if len(b) > maxNoteBytes || !utf8.Valid(b) || bytes.ContainsFunc(b, unicode.IsControl) {
		return "", badField("invalid_note", "note", "the note must be valid UTF-8 of at most %d bytes without control characters", maxNoteBytes)
	}
	return string(b), nil
}

// controlTimeout bounds one request's work on the control store.
const controlTimeout = 10 * time.Second

// commit makes files (already compiled and tested into prepared, a rule set or nil) the new version of the
// rule document doc, and answers nothing: the caller does, with the version it returns.
func (s *Server) commit(ctx *fasthttp.RequestCtx, who caller, doc, action string, files []control.File, prepared *rules.Set) (control.Version, error) {
	note, ae := changeNote(ctx)
	if ae != nil {
		return control.Version{}, ae
	}
	label := ""
	if prepared != nil {
		label = prepared.Version
	}
	c, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	return s.control.Change(c, doc, func(*control.Version) (control.Change, error) {
		return control.Change{Author: who.name(), Note: note, Action: action, Files: files, Prepared: prepared, Label: label}, nil
	})
}

// changeLists commits a change to the lists (doc control.Lists) or the exceptions (control.Exceptions): op
// runs on a scratch registry holding the newest version, and what it leaves there is the next version. A
// change op refuses leaves every list as it was.
func (s *Server) changeLists(ctx *fasthttp.RequestCtx, who caller, doc string, op func(scratch *lists.Registry) error) (control.Version, error) {
	note, ae := changeNote(ctx)
	if ae != nil {
		return control.Version{}, ae
	}
	reg := s.cfg.Lists
	c, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	return s.control.Change(c, doc, func(cur *control.Version) (control.Change, error) {
		scratch := reg.Fresh()
		var err error
		switch {
		case cur == nil && doc == control.Lists:
			err = scratch.ReplaceLists(reg.List(true)) // the first version adopts what the registry holds
		case cur == nil:
			err = scratch.ReplaceExceptions(reg.ExceptionList())
		case doc == control.Lists:
			var all []lists.Info
			if all, err = decodeDocument[lists.Info](cur.Files, listsFile); err == nil {
				err = scratch.ReplaceLists(all)
			}
		default:
			var all []lists.Exception
			if all, err = decodeDocument[lists.Exception](cur.Files, exceptionsFile); err == nil {
				err = scratch.ReplaceExceptions(all)
			}
		}
		if err != nil {
			return control.Change{}, fmt.Errorf("the newest %s version: %w", doc, err)
		}
		if err := op(scratch); err != nil {
			return control.Change{}, listsError(err)
		}
		ch := control.Change{Author: who.name(), Note: note, Action: control.ActionPut}
		if doc == control.Lists {
			all := scratch.List(true)
			ch.Prepared, ch.Label = all, fmt.Sprintf("%d lists", len(all))
			ch.Files, err = encodeDocument(all, listsFile)
		} else {
			all := scratch.ExceptionList()
			ch.Prepared, ch.Label = all, fmt.Sprintf("%d exceptions", len(all))
			ch.Files, err = encodeDocument(all, exceptionsFile)
		}
		return ch, err
	})
}

// maxHistory is the most versions GET /v1/control/{document}/versions returns at once.
const maxHistory = control.KeepVersions

// handleControl serves /v1/control (what this instance serves), /v1/control/{document}/versions (the
// history), /v1/control/{document}/versions/{n} (one version, with its files) and
// /v1/control/{document}/rollback. sub are the path's segments after /v1/control.
func (s *Server) handleControl(ctx *fasthttp.RequestCtx, sub []string) {
	who, ok := s.authorizeGlobal(ctx, ScopeAdmin)
	if !ok {
		return
	}
	if len(sub) == 0 {
		if !ctx.IsGet() {
			writeError(ctx, methodNotAllowed("GET"))
			return
		}
		docs, storeErr := s.control.Status()
		writeJSON(ctx, map[string]any{"documents": docs, "store_error": storeErr})
		return
	}
	doc := sub[0]
	if !containsString(s.control.Documents(), doc) {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: "no_such_document", field: "document",
			message: "no document " + strconv.Quote(doc) + "; the documents are rules, shadow, lists and exceptions"})
		return
	}
	c, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	switch {
	case len(sub) == 2 && sub[1] == "versions":
		if !ctx.IsGet() {
			writeError(ctx, methodNotAllowed("GET"))
			return
		}
		limit := 20
		if b := ctx.QueryArgs().Peek("limit"); b != nil {
			n, err := strconv.Atoi(string(b))
			if err != nil || n < 1 || n > maxHistory {
				writeError(ctx, badField("invalid_limit", "limit", "limit must be a whole number from 1 to %d", maxHistory))
				return
			}
			limit = n
		}
		h, err := s.control.History(c, doc, limit)
		if err != nil {
			writeError(ctx, err)
			return
		}
		for i := range h {
			h[i].Files = nil // the list is for browsing; a version's files come with it alone
		}
		writeJSON(ctx, map[string]any{"versions": h})
	case len(sub) == 3 && sub[1] == "versions":
		if !ctx.IsGet() {
			writeError(ctx, methodNotAllowed("GET"))
			return
		}
		n, err := strconv.ParseUint(sub[2], 10, 64)
		if err != nil || n == 0 {
			writeError(ctx, badField("invalid_version", "version", "the version in the path must be a whole number from 1"))
			return
		}
		v, err := s.control.Get(c, doc, n)
		if err != nil {
			writeError(ctx, err)
			return
		}
		writeJSON(ctx, v)
	case len(sub) == 2 && sub[1] == "rollback":
		s.rollback(ctx, c, who, doc)
	default:
		writeError(ctx, errNotFound)
	}
}

// rollback serves POST /v1/control/{document}/rollback {"version": n}: the files of version n become the newest
// version again, once they pass the gate every version passes (a rule set compiles and its tests pass here).
func (s *Server) rollback(ctx *fasthttp.RequestCtx, c context.Context, who caller, doc string) {
	if !ctx.IsPost() {
		writeError(ctx, methodNotAllowed("POST"))
		return
	}
	var body struct {
		Version *uint64 `json:"version"`
	}
	if ae := requireJSON(ctx); ae != nil {
		writeError(ctx, ae)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "version" {
			writeError(ctx, badField("invalid_version", "version", "version must be a whole number from 1"))
			return
		}
		writeError(ctx, badField("invalid_json", "body", "the body must be {\"version\": n}: %v", err))
		return
	}
	if body.Version == nil || *body.Version == 0 {
		writeError(ctx, badField("invalid_version", "version", "give the version to roll back to, a whole number from 1"))
		return
	}
	note, ae := changeNote(ctx)
	if ae != nil {
		writeError(ctx, ae)
		return
	}
	v, err := s.control.Rollback(c, doc, *body.Version, who.name(), note)
	if err != nil {
		s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "control.rollback", Target: doc,
			Result: "refused", Detail: fmt.Sprintf("to version %d: %v", *body.Version, err)})
		writeError(ctx, err)
		return
	}
	s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "control.rollback", Target: doc, Result: "ok",
		Detail: fmt.Sprintf("version %d restores version %d (%s)", v.Number, v.RollbackOf, v.Label)})
	v.Files = nil
	writeJSON(ctx, v)
}

func containsString(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
