package server

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/internal/jsonenc"
)

func (s *Server) handleHealth(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		writeError(ctx, methodNotAllowed("GET"))
		return
	}
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBodyString(`{"status":"ok"}`)
}

// readiness is the /readyz body: whether to send traffic here, and what riskd is running with.
type readiness struct {
	Status       string      `json:"status"`
	RulesVersion string      `json:"rules_version"`
	RulesSource  string      `json:"rules_source"`
	Geo          []geoStatus `json:"geo"`
	Warnings     []string    `json:"warnings,omitempty"`
	UptimeS      int64       `json:"uptime_s"`
	// Control is the version of each document this instance serves, and why not the newest when it cannot.
	Control []control.Status `json:"control"`
}

type geoStatus struct {
	Kind         string `json:"kind"`
	Path         string `json:"path"`
	DatabaseType string `json:"database_type,omitempty"`
	BuildTime    string `json:"build_time,omitempty"`
	Loaded       bool   `json:"loaded"`
}

// Readiness reports the state /readyz shows; riskd's start-up log prints the same warnings.
func (s *Server) Readiness() (ready bool, warnings []string) {
	r := s.readiness()
	return r.Status == "ready", r.Warnings
}

func (s *Server) readiness() readiness {
	set := s.engine.Rules()
	r := readiness{Status: "ready", RulesVersion: set.Version, RulesSource: set.Source, Geo: []geoStatus{},
		UptimeS: int64(time.Since(s.startedAt).Seconds())}
	loaded := map[string]bool{}
	for _, src := range s.engine.Extractor().Geo().Status() {
		g := geoStatus{Kind: src.Kind, Path: src.Path, DatabaseType: src.DatabaseType, Loaded: src.Loaded}
		if !src.BuildTime.IsZero() {
			g.BuildTime = src.BuildTime.UTC().Format(time.RFC3339)
		}
		loaded[src.Kind] = src.Loaded
		r.Geo = append(r.Geo, g)
	}
	for _, k := range []string{"city", "asn", "anonymous"} {
		if !loaded[k] {
			r.Warnings = append(r.Warnings, "no "+k+" GeoIP database: its signals are empty")
		}
	}
	// A degraded state backend (Redis out of reach) is a warning, not unreadiness: decisions go on from local
	// state, and taking every instance out of the load balancer at once would turn an outage into a total one.
	if err := s.engine.Extractor().StateHealth(); err != nil {
		r.Warnings = append(r.Warnings, "state degraded: "+err.Error())
	}
	// A version this instance cannot apply is a warning too: it keeps serving the one before, and the others
	// may apply it (the usual cause is GeoIP data under which the rule set's tests fail).
	docs, storeErr := s.control.Status()
	r.Control = docs
	for _, d := range docs {
		if d.Error != "" {
			r.Warnings = append(r.Warnings, "control: "+d.Document+" serves version "+strconv.FormatUint(d.Serving, 10)+": "+d.Error)
		}
	}
	if storeErr != "" {
		r.Warnings = append(r.Warnings, "control store unreachable; new versions wait: "+storeErr)
	}
	if s.draining.Load() {
		r.Status = "draining"
	}
	return r
}

// handleReady answers load balancers, which probe without a key, with the status alone; the details (file
// paths, the state backend's errors, versions) go only to a caller who may read the operational details.
func (s *Server) handleReady(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		writeError(ctx, methodNotAllowed("GET"))
		return
	}
	r := s.readiness()
	if r.Status != "ready" {
		ctx.Response.Header.Set("Retry-After", "5")
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	}
	if !s.mayReadOperations(ctx) {
		writeJSON(ctx, struct {
			Status string `json:"status"`
		}{r.Status})
		return
	}
	writeJSON(ctx, r)
}

// handleMetrics serves the Prometheus text; with keys configured, only to the metrics or admin scope (the
// per-rule firing counts tell an attacker which rules its probes trip).
func (s *Server) handleMetrics(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		writeError(ctx, methodNotAllowed("GET"))
		return
	}
	if _, err := s.authorize(ctx, scopeOperations); err != nil {
		s.writeAuthError(ctx, err)
		return
	}
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	w := ctx.Response.BodyWriter()
	s.metrics.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}

// writeJSON encodes v with encoding/json: for the admin and operations endpoints, not the decision path.
func writeJSON(ctx *fasthttp.RequestCtx, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(ctx, err)
		return
	}
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(b)
}

// appendExplanation appends the explain=1 part of a decision: the feature vector and every rule's result.
func appendExplanation(b []byte, enc *jsonenc.VectorEncoder, x *engine.Explanation) []byte {
	b = append(b, `,"features":`...)
	b = enc.Append(b, &x.Vector)
	b = append(b, `,"rules":[`...)
	for i := range x.Rules {
		r := &x.Rules[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, r.ID)
		b = append(b, `,"fired":`...)
		b = strconv.AppendBool(b, r.Fired)
		b = append(b, `,"applies":`...)
		b = strconv.AppendBool(b, !r.Skipped)
		b = append(b, `,"shadow":`...)
		b = strconv.AppendBool(b, r.Shadow)
		b = append(b, `,"score":`...)
		b = strconv.AppendInt(b, int64(r.Score), 10)
		if r.Action != 0 {
			b = append(b, `,"action":`...)
			b = appendString(b, r.Action.String())
		}
		b = append(b, '}')
	}
	return append(b, ']')
}
