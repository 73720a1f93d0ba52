package server

import (
	"bufio"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/livestream"
	"github.com/riskd/riskd/rules"
)

// The decision stream (GET /v1/decisions/stream, docs/CONSOLE-API.md): Server-Sent Events, one `decision`
// event per decision that passes the viewer's filters. The engine hands decisions to a ring (livestream);
// this file only parses the filters, subscribes, and writes what the hub queues for the viewer.

const (
	// streamWriteTimeout bounds one write to a viewer: a viewer that takes nothing for this long is gone.
	// Meanwhile it loses messages (counted), never holding up anything but its own connection.
	streamWriteTimeout = 30 * time.Second
	// defaultStreamKeepAlive is how often an idle stream sends a comment, so that proxies keep it open.
	defaultStreamKeepAlive = 15 * time.Second
)

var errTooManyViewers = &apiError{status: fasthttp.StatusTooManyRequests, code: "too_many_viewers",
	message: "the decision stream has as many viewers as it serves; close one, or retry after the Retry-After delay"}

var errStreamClosed = &apiError{status: fasthttp.StatusServiceUnavailable, code: "shutting_down",
	message: "riskd is shutting down"}

// handleStream serves GET /v1/decisions/stream to a key of the admin or read scope, of every tenant (the
// stream shows them all).
func (s *Server) handleStream(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		writeError(ctx, methodNotAllowed("GET"))
		return
	}
	if _, ok := s.authorizeGlobal(ctx, ScopeAdmin|ScopeRead); !ok {
		return
	}
	f, ae := parseStreamFilter(ctx.QueryArgs())
	if ae != nil {
		writeError(ctx, ae)
		return
	}
	hub := s.engine.Stream()
	v, err := hub.Subscribe(f)
	if err != nil {
		writeError(ctx, err)
		return
	}
	conn := ctx.Conn() // nil when a test calls the handler without a connection
	keepAlive := s.cfg.StreamKeepAlive
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.Response.Header.Set("X-Accel-Buffering", "no") // nginx would otherwise hold events back
	ctx.SetConnectionClose()                           // the stream ends only with its connection
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer hub.Unsubscribe(v)
		streamTo(w, conn, v, keepAlive)
	})
}

// streamTo writes the viewer's messages to w until the viewer is removed, the client goes away or a write
// fails. conn is the client's connection, from which it learns promptly that the client left.
func streamTo(w *bufio.Writer, conn net.Conn, v *livestream.Viewer, keepAlive time.Duration) {
	gone := make(chan struct{})
	if conn != nil {
		finished := make(chan struct{})
		defer close(finished)
		go watchClient(conn, v, gone, finished)
	}
	flush := func() bool {
		if conn != nil {
			// fasthttp gave the whole response WriteTimeout from its start; a stream is written a piece at a time.
			conn.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		}
		return w.Flush() == nil
	}
	t := time.NewTicker(keepAlive)
	defer t.Stop()
	b := make([]byte, 0, 16<<10)
	b = append(b, ": riskd decision stream\nretry: 3000\n\n"...)
	w.Write(b)
	if !flush() {
		return
	}
	for {
		select {
		case m := <-v.Messages():
			b = appendEvent(b[:0], m)
			if _, err := w.Write(b); err != nil {
				return
			}
			if len(v.Messages()) > 0 {
				continue // write what is queued, flush once
			}
		case <-t.C:
			b = appendDropped(b[:0], v.TakeDropped())
			b = append(b, ": keep-alive\n\n"...)
			w.Write(b)
		case <-v.Done():
			return
		case <-gone:
			return
		}
		if !flush() {
			return
		}
	}
}

// appendEvent appends one decision event, after the drops that came before it.
func appendEvent(b []byte, m livestream.Message) []byte {
	b = appendDropped(b, m.Dropped)
	b = append(b, "event: decision\ndata: "...)
	b = append(b, m.Data...)
	return append(b, "\n\n"...)
}

// appendDropped tells the viewer it lost n messages: in a comment line, and, for clients that do not show
// comments (a browser's EventSource), in a `dropped` event.
func appendDropped(b []byte, n uint64) []byte {
	if n == 0 {
		return b
	}
	b = append(b, ": dropped "...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, "\nevent: dropped\ndata: {\"dropped\":"...)
	b = strconv.AppendUint(b, n, 10)
	return append(b, "}\n\n"...)
}

// watchClient closes gone when the client closes its connection (a viewer sends nothing after its request, so
// a read returns only then) or the viewer is removed, and then makes a write blocked on the client fail at
// once; it returns when finished is closed.
func watchClient(conn net.Conn, v *livestream.Viewer, gone, finished chan struct{}) {
	read := make(chan struct{})
	go func() {
		defer close(read)
		conn.SetReadDeadline(time.Time{}) // fasthttp's deadline was for reading the request
		var buf [512]byte
		for {
			if _, err := conn.Read(buf[:]); err != nil {
				return
			}
		}
	}()
	select {
	case <-read:
	case <-v.Done():
	case <-finished:
	}
	close(gone)
	conn.SetWriteDeadline(time.Now())
	conn.SetReadDeadline(time.Now())
	<-read
}

// parseStreamFilter reads the stream's filters: decision, rule, tenant, event, each at most once; an empty
// value filters nothing. Any other parameter is refused, so that a misspelt filter does not show everything.
func parseStreamFilter(args *fasthttp.Args) (livestream.Filter, *apiError) {
	var f livestream.Filter
	seen := map[string]bool{}
	for k, val := range args.All() {
		key, value := string(k), string(val)
		switch {
		case key != "decision" && key != "event" && key != "tenant" && key != "rule":
			return f, badField("unknown_parameter", key, "unknown parameter; the stream's filters are decision, rule, tenant and event")
		case seen[key]:
			return f, badField("invalid_filter", key, "%s is given more than once; a filter takes one value", key)
		}
		seen[key] = true
		if value == "" {
			continue
		}
		switch key {
		case "decision":
			if f.Decision, _ = rules.ParseAction(value); f.Decision == rules.None {
				return f, badField("invalid_filter", key, "decision must be allow, step_up or deny")
			}
		case "event":
			if _, ok := features.ParseEventType(value); !ok {
				return f, badField("invalid_filter", key, "event must be login, registration, password_reset, checkout, payment_method_change or profile_change")
			}
			f.Event = value
		case "tenant":
			if len(value) > maxTenantLen || !validTenant(value) {
				return f, badField("invalid_filter", key, "tenant must be up to %d letters, digits, '_', '-' or '.'", maxTenantLen)
			}
			f.Tenant = value
		case "rule":
			if !validRuleID(value) {
				return f, badField("invalid_filter", key, "rule must be a rule id: a lowercase letter, then up to 63 lowercase letters, digits or '_'")
			}
			f.Rule = value
		}
	}
	return f, nil
}

// validRuleID reports whether s has the shape of a rule id (rules' idPattern). A rule need not exist: one
// about to be promoted may be watched for.
func validRuleID(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// registerStreamMetrics exposes the stream's counts: riskd_stream_dropped_total (messages viewers lost: a
// full queue, past the rate, or the ring overrun) and riskd_stream_viewers.
func (s *Server) registerStreamMetrics() {
	hub := s.engine.Stream()
	s.metrics.NewGauge("riskd_stream_dropped_total", func() float64 { return float64(hub.Dropped()) })
	s.metrics.NewGauge("riskd_stream_viewers", func() float64 { return float64(hub.Viewers()) })
}
