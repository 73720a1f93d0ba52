package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/backtest"
	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/ruletest"
)

type ruleView struct {
	ID          string   `json:"id"`
	Description string   `json:"description,omitempty"`
	When        string   `json:"when"`
	Score       int      `json:"score,omitempty"`
	Action      string   `json:"action,omitempty"`
	Code        string   `json:"code"`
	Mode        string   `json:"mode"`
	Events      []string `json:"events,omitempty"`
	Tenant      string   `json:"tenant,omitempty"`  // the overlay that added it
	Expires     string   `json:"expires,omitempty"` // RFC 3339; by event time
	Expired     bool     `json:"expired,omitempty"` // expired by the clock: applies only to older events
}

type thresholdsView struct {
	StepUp int `json:"step_up"`
	Deny   int `json:"deny"`
}

type tenantView struct {
	Disable    []string                  `json:"disable,omitempty"`
	Rules      []string                  `json:"rules,omitempty"`
	Thresholds map[string]thresholdsView `json:"thresholds"` // resolved, per event type
}

// handleRules serves /v1/rules (GET the live set, PUT a new one) and its sub-resources shadow, validate and
// backtest, named by sub: the path's segments after /v1/rules.
func (s *Server) handleRules(ctx *fasthttp.RequestCtx, sub []string) {
	who, err := s.authorize(ctx, ScopeAdmin)
	if err != nil {
		s.writeAuthError(ctx, err)
		return
	}
	var name string // "" for /v1/rules itself
	switch {
	case len(sub) == 1 && sub[0] != "":
		name = sub[0]
	case len(sub) != 0:
		writeError(ctx, errNotFound)
		return
	}
	switch name {
	case "":
		switch {
		case ctx.IsGet():
			s.getRules(ctx)
		case ctx.IsPut():
			s.ruleWork(ctx, who, func() { s.putRules(ctx, who) })
		default:
			writeError(ctx, methodNotAllowed("GET, PUT"))
		}
	case "shadow":
		switch {
		case ctx.IsPut():
			s.ruleWork(ctx, who, func() {
				if set := s.candidate(ctx, who); set != nil {
					v, err := s.commit(ctx, who, control.Shadow, control.ActionPut, requestFiles(ctx), set)
					if err != nil {
						s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "rules.shadow", Result: "refused", Detail: err.Error()})
						writeError(ctx, err)
						return
					}
					s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "rules.shadow", Result: "ok",
						Detail: fmt.Sprintf("version %s (control version %d)", set.Version, v.Number)})
					writeJSON(ctx, map[string]any{"shadow": set.Version, "rules": len(set.Rules), "control_version": v.Number})
				}
			})
		case ctx.IsDelete():
			if !who.global() {
				writeError(ctx, errForbiddenGlobal)
				return
			}
			v, err := s.commit(ctx, who, control.Shadow, control.ActionDelete, nil, nil)
			if err != nil {
				writeError(ctx, err)
				return
			}
			s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "rules.shadow.delete", Result: "ok",
				Detail: fmt.Sprintf("control version %d", v.Number)})
			ctx.SetStatusCode(fasthttp.StatusNoContent)
		default:
			writeError(ctx, methodNotAllowed("PUT, DELETE"))
		}
	case "validate":
		s.ruleWork(ctx, who, func() {
			set, tests := s.testedCandidate(ctx, who)
			s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "rules.validate", Result: candidateResult(ctx, set),
				Detail: setDetail(set, tests)})
			if set != nil {
				writeJSON(ctx, map[string]any{"valid": true, "version": set.Version, "rules": len(set.Rules),
					"tests": map[string]int{"passed": tests.Passed, "failed": tests.Failed}, "warnings": nonNil(set.Warnings)})
			}
		})
	case "backtest":
		s.ruleWork(ctx, who, func() {
			set := s.candidate(ctx, who)
			if set != nil {
				s.backtestRules(ctx, set)
			}
			// A backtest reads the decision log, every tenant's traffic: audited whatever it found.
			s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "rules.backtest", Result: candidateResult(ctx, set),
				Detail: setDetail(set, nil)})
		})
	default:
		writeError(ctx, errNotFound)
	}
}

// RuleGate is the gate the server's rule work goes through; the process's other rule work (reloads) shares it.
func (s *Server) RuleGate() *rules.Gate { return s.cfg.RuleGate }

// ruleWorkWait is how long an admin request waits for the rule gate before it is answered 503 rules_busy.
const ruleWorkWait = 5 * time.Second

// ruleWork runs job, which compiles, tests or backtests a rule set and answers ctx, through the rule gate:
// one such job at a time in the process, so that a burst of submissions queues instead of taking every core
// and its memory from the decisions. The request path never passes through it. A request that candidate
// refuses before compiling anything (method, scope, empty body) is answered at once, without waiting.
func (s *Server) ruleWork(ctx *fasthttp.RequestCtx, who caller, job func()) {
	if (!ctx.IsPost() && !ctx.IsPut()) || !who.global() || len(ctx.PostBody()) == 0 {
		job()
		return
	}
	err := s.cfg.RuleGate.Do(ruleWorkWait, func() error { job(); return nil })
	if err != nil {
		writeError(ctx, err)
	}
}

func (s *Server) getRules(ctx *fasthttp.RequestCtx) {
	set := s.engine.Rules()
	type globalThresholds struct {
		thresholdsView
		Events map[string]thresholdsView `json:"events,omitempty"` // event types whose thresholds differ
	}
	out := struct {
		Version    string                `json:"version"`
		Source     string                `json:"source"`
		Shadow     string                `json:"shadow,omitempty"`
		Thresholds globalThresholds      `json:"thresholds"`
		Rules      []ruleView            `json:"rules"`
		Tenants    map[string]tenantView `json:"tenants,omitempty"`
		Tests      int                   `json:"tests"`
		Warnings   []string              `json:"warnings,omitempty"`
	}{Version: set.Version, Source: set.Source, Rules: make([]ruleView, 0, len(set.Rules)), Tests: len(set.Tests),
		Warnings: set.Warnings}
	out.Thresholds.thresholdsView = thresholdsView{set.Thresholds.StepUp, set.Thresholds.Deny}
	for t := features.Login; t < features.NumEventTypes; t++ {
		if th := set.ThresholdsFor("", t); th != set.Thresholds {
			if out.Thresholds.Events == nil {
				out.Thresholds.Events = map[string]thresholdsView{}
			}
			out.Thresholds.Events[t.String()] = thresholdsView{th.StepUp, th.Deny}
		}
	}
	if sh := s.engine.Shadow(); sh != nil {
		out.Shadow = sh.Version
	}
	now := time.Now()
	for i := range set.Rules {
		r := &set.Rules[i]
		mode := "enforce"
		if r.Shadow {
			mode = "shadow"
		}
		v := ruleView{ID: r.ID, Description: r.Description, When: r.When, Score: r.Score,
			Action: r.Action.String(), Code: r.Code, Mode: mode, Events: r.Events(), Tenant: r.Tenant}
		if !r.Expires.IsZero() {
			v.Expires, v.Expired = r.Expires.UTC().Format(time.RFC3339), r.ExpiredAt(now.UnixNano())
		}
		out.Rules = append(out.Rules, v)
	}
	for _, name := range set.Tenants() {
		if out.Tenants == nil {
			out.Tenants = map[string]tenantView{}
		}
		tv := tenantView{Disable: set.Disabled(name), Thresholds: map[string]thresholdsView{}}
		for i := range set.Rules {
			if set.Rules[i].Tenant == name {
				tv.Rules = append(tv.Rules, set.Rules[i].ID)
			}
		}
		for t := features.Login; t < features.NumEventTypes; t++ {
			th := set.ThresholdsFor(name, t)
			tv.Thresholds[t.String()] = thresholdsView{th.StepUp, th.Deny}
		}
		out.Tenants[name] = tv
	}
	writeJSON(ctx, out)
}

// nonNil makes an empty list encode as [] rather than null.
// candidateResult is the audit result of a request about a candidate rule set: "ok" when it was answered with
// success, else "refused" and its status.
func candidateResult(ctx *fasthttp.RequestCtx, set *rules.Set) string {
	if st := ctx.Response.StatusCode(); set == nil || st >= 300 {
		return fmt.Sprintf("refused %d", st)
	}
	return "ok"
}

// setDetail names a candidate set in an audit record, with its tests' results when they ran.
func setDetail(set *rules.Set, tests *ruletest.Report) string {
	if set == nil {
		if tests != nil {
			return fmt.Sprintf("%d of %d tests failed", tests.Failed, len(tests.Cases))
		}
		return ""
	}
	return "version " + set.Version
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// candidate compiles the rule file in the request body (POST or PUT), answering the error itself when it does
// not compile: 422 with every compile error, one per line in the message.
func (s *Server) candidate(ctx *fasthttp.RequestCtx, who caller) *rules.Set {
	if !ctx.IsPost() && !ctx.IsPut() {
		writeError(ctx, methodNotAllowed("POST"))
		return nil
	}
	if !who.global() {
		writeError(ctx, errForbiddenGlobal)
		return nil
	}
	if !isRuleFileType(ctx.Request.Header.ContentType()) {
		writeError(ctx, errUnsupportedRules)
		return nil
	}
	body := ctx.PostBody()
	if len(body) == 0 {
		writeError(ctx, badField("missing_body", "", "send the rule file (YAML) as the body"))
		return nil
	}
	set, err := rules.CompileSourcesWith("request", []rules.Source{{Name: "request", Data: body}}, VersionBases(s.control.Get))
	if err != nil {
		writeError(ctx, &apiError{status: fasthttp.StatusUnprocessableEntity, code: "invalid_rules", message: err.Error()})
		return nil
	}
	return set
}

// requestFiles is the request's rule file as the files of a rule document version.
func requestFiles(ctx *fasthttp.RequestCtx) []control.File {
	return []control.File{{Name: "request", Data: string(ctx.PostBody())}}
}

// isRuleFileType accepts the media types of YAML, and JSON (which YAML reads): never a missing Content-Type,
// nor a type a browser may send cross-site without asking (a form, text/plain).
func isRuleFileType(ct []byte) bool {
	return isMediaType(ct, "application/yaml") || isMediaType(ct, "application/x-yaml") ||
		isMediaType(ct, "text/yaml") || isMediaType(ct, "text/x-yaml") || isJSON(ct)
}

// testedCandidate is candidate, then the set's own tests (ruletest) over the serving GeoIP databases: a set
// whose tests fail is answered with 422 rule_tests_failed, each failed case on a line of the message.
func (s *Server) testedCandidate(ctx *fasthttp.RequestCtx, who caller) (*rules.Set, *ruletest.Report) {
	set := s.candidate(ctx, who)
	if set == nil {
		return nil, nil
	}
	rep := ruletest.Run(set, ruletest.Options{Geo: s.engine.Extractor().Geo()})
	if err := rep.Err(); err != nil {
		writeError(ctx, &apiError{status: fasthttp.StatusUnprocessableEntity, code: "rule_tests_failed", message: err.Error()})
		return nil, rep
	}
	return set, rep
}

// putRules makes the rule file of the request body the new version of the rules document (see control.go):
// it serves here at once and on every instance sharing the control store within seconds, and survives
// restarts. A set that does not compile, or whose tests fail, is refused and the live one keeps serving.
func (s *Server) putRules(ctx *fasthttp.RequestCtx, who caller) {
	set, tests := s.testedCandidate(ctx, who)
	if set == nil {
		detail := ""
		if tests != nil {
			detail = fmt.Sprintf("%d of %d tests failed", tests.Failed, len(tests.Cases))
		}
		s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "rules.put", Result: "refused", Detail: detail})
		return
	}
	old := s.engine.Rules()
	v, err := s.commit(ctx, who, control.Rules, control.ActionPut, requestFiles(ctx), set)
	if err != nil {
		s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "rules.put", Result: "refused", Detail: err.Error()})
		writeError(ctx, err)
		return
	}
	s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "rules.put", Result: "ok",
		Detail: fmt.Sprintf("version %s replaces %s (control version %d)", set.Version, old.Version, v.Number)})
	s.log.Info("rules replaced through the API", "version", set.Version, "previous", old.Version, "by", who.name(),
		"tests", tests.Passed, "control_version", v.Number)
	writeJSON(ctx, map[string]any{"version": set.Version, "previous": old.Version, "rules": len(set.Rules), "tests": tests.Passed,
		"control_version": v.Number})
}

// maxBacktestBytes bounds how much of the decision log one API backtest replays (newest files first), so an
// admin request stays within the server's write timeout; larger backtests belong to `riskd backtest`.
const maxBacktestBytes = 256 << 20

// backtestRules replays the newest part of the server's decision log through set.
func (s *Server) backtestRules(ctx *fasthttp.RequestCtx, set *rules.Set) {
	if s.cfg.DecisionLogDir == "" {
		writeError(ctx, &apiError{status: fasthttp.StatusConflict, code: "no_decision_log",
			message: "riskd runs without a decision log (--decision-log); use riskd backtest on a log file"})
		return
	}
	files, err := logFiles(s.cfg.DecisionLogDir, maxBacktestBytes)
	if err != nil {
		writeError(ctx, err)
		return
	}
	var readers []io.Reader
	for _, f := range files {
		defer f.Close()
		readers = append(readers, f)
	}
	// One worker: a backtest asked of a serving riskd must leave the other cores to decisions (the CLI's
	// `riskd backtest` uses them all).
	rep, err := backtest.Run(io.MultiReader(readers...), set, backtest.Options{Workers: 1})
	if err != nil && rep.Events == 0 {
		writeError(ctx, &apiError{status: fasthttp.StatusUnprocessableEntity, code: "empty_log", message: err.Error()})
		return
	}
	writeJSON(ctx, rep)
}

// logFiles opens the decision log files of dir, oldest first, keeping the newest that fit in limit bytes.
func logFiles(dir string, limit int64) ([]*os.File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, "decisions-") && strings.HasSuffix(n, ".ndjson") {
			names = append(names, n)
		}
	}
	slices.Sort(names) // rotated names sort by time
	names = append(names, decisionlog.CurrentName)
	var files []*os.File
	var total int64
	for i := len(names) - 1; i >= 0; i-- {
		f, err := os.Open(filepath.Join(dir, names[i]))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil || (total+st.Size() > limit && len(files) > 0) {
			f.Close()
			break
		}
		total += st.Size()
		files = append([]*os.File{f}, files...)
	}
	return files, nil
}
