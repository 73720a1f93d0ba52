package server

import (
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/livestream"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/signals"
)

// apiError is an error a client can act on: a status, a stable code, the offending field (if any) and a
// message. It is the only error type that reaches the wire.
type apiError struct {
	status  int
	code    string
	field   string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func badField(code, field, format string, args ...any) *apiError {
	return &apiError{status: fasthttp.StatusBadRequest, code: code, field: field, message: fmt.Sprintf(format, args...)}
}

// Errors with no field, built once.
var (
	errNotFound         = &apiError{status: fasthttp.StatusNotFound, code: "not_found", message: "no such endpoint"}
	errBodyTooLarge     = &apiError{status: fasthttp.StatusRequestEntityTooLarge, code: "body_too_large", message: "request body is too large"}
	errUnsupportedMedia = &apiError{status: fasthttp.StatusUnsupportedMediaType, code: "unsupported_media_type", message: "send Content-Type: application/json"}
	errUnsupportedRules = &apiError{status: fasthttp.StatusUnsupportedMediaType, code: "unsupported_media_type", message: "send the rule file with Content-Type: application/yaml (or application/json)"}
	errInternal         = &apiError{status: fasthttp.StatusInternalServerError, code: "internal", message: "internal error; the request may be retried"}
	errUserNotFound     = &apiError{status: fasthttp.StatusNotFound, code: "user_not_found", message: "riskd holds nothing about this user"}
	errOverloaded       = &apiError{status: fasthttp.StatusServiceUnavailable, code: "overloaded", message: "riskd is overloaded; retry after the Retry-After delay or apply your fail policy"}
	errBadRequest       = &apiError{status: fasthttp.StatusBadRequest, code: "bad_request", message: "the request could not be read"}
	errRulesBusy        = &apiError{status: fasthttp.StatusServiceUnavailable, code: "rules_busy", message: "another rule set is being compiled, tested or backtested; retry after the Retry-After delay"}
)

// errInvalidPath refuses a path riskd does not resolve but a proxy in front of it might (a dot segment, a
// backslash) or cannot decode (a bad %-escape): the two would disagree about which resource it names.
var errInvalidPath = &apiError{status: fasthttp.StatusBadRequest, code: "invalid_path", field: "path",
	message: "the path holds a dot segment (. or ..), a backslash or a bad %-escape; escape ids with %XX"}

// errMisdirectedHost refuses, when riskd runs without keys, a request addressed to a name that is not loopback.
// Without keys anyone who reaches the listener is trusted, and the listener is loopback only; but a web page
// can make a browser on the same machine reach it anyway, by pointing a name of its own at 127.0.0.1 (DNS
// rebinding). The browser then sends that name as Host: refusing it closes the hole.
var errMisdirectedHost = &apiError{status: fasthttp.StatusMisdirectedRequest, code: "misdirected_host", field: "host",
	message: "riskd runs without API keys and answers only requests addressed to localhost, 127.x.x.x or [::1]"}

func methodNotAllowed(allow string) *apiError {
	return &apiError{status: fasthttp.StatusMethodNotAllowed, code: "method_not_allowed", message: "use " + allow}
}

// errUnknownCurrency is pre-built: a rates table that lacks a currency callers use would otherwise allocate an
// error per request.
var errUnknownCurrency = badField("unknown_currency", "currency", "currency is not in riskd's currency rates table (see --currency-rates)")

// toAPIError maps domain errors to what the client sees. It is the one place where errors meet HTTP statuses.
func toAPIError(err error) *apiError {
	if ae, ok := err.(*apiError); ok {
		return ae // the common case, without errors.As's target escaping to the heap
	}
	if err == features.ErrUnknownCurrency {
		return errUnknownCurrency // as it comes from the engine, unwrapped: a shop's every request may carry it
	}
	var ae *apiError
	var fe *signals.FieldError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &fe):
		return badField("invalid_stream", fe.Field, "%s", fe.Message)
	case errors.Is(err, signals.ErrStreamNotFound):
		return &apiError{status: fasthttp.StatusNotFound, code: "stream_not_found", field: "stream_id", message: err.Error()}
	case errors.Is(err, signals.ErrTooManyStreams):
		return &apiError{status: fasthttp.StatusConflict, code: "too_many_streams", message: err.Error()}
	case errors.Is(err, engine.ErrFutureTimestamp):
		return badField("invalid_timestamp", "timestamp", "timestamp is further in the future than the allowed clock skew")
	case errors.Is(err, engine.ErrStaleTimestamp):
		return badField("invalid_timestamp", "timestamp", "timestamp is older than the retention period")
	case errors.Is(err, features.ErrUnknownCurrency):
		return errUnknownCurrency
	case errors.Is(err, features.ErrAmountRequired):
		return badField("missing_field", "amount", "amount and currency are required")
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return errBodyTooLarge
	case errors.Is(err, rules.ErrBusy):
		return errRulesBusy
	case errors.Is(err, control.ErrUnavailable):
		return &apiError{status: fasthttp.StatusServiceUnavailable, code: "control_unavailable", message: "the control store cannot be reached; nothing was changed: " + err.Error()}
	case errors.Is(err, control.ErrConflict):
		return &apiError{status: fasthttp.StatusConflict, code: "version_conflict", message: "other changes kept being committed first; nothing was changed, retry"}
	case errors.Is(err, control.ErrNoVersion):
		return &apiError{status: fasthttp.StatusNotFound, code: "no_such_version", field: "version", message: "no such version (the history keeps the newest 100)"}
	case errors.Is(err, livestream.ErrTooManyViewers):
		return errTooManyViewers
	case errors.Is(err, livestream.ErrClosed):
		return errStreamClosed
	case errors.Is(err, control.ErrRefused):
		return &apiError{status: fasthttp.StatusUnprocessableEntity, code: "rollback_refused", field: "version", message: err.Error()}
	}
	return errInternal
}

// writeError answers with err in the JSON error shape.
func writeError(ctx *fasthttp.RequestCtx, err error) {
	ae := toAPIError(err)
	switch ae {
	case errRulesBusy:
		ctx.Response.Header.Set("Retry-After", "1")
	case errTooManyViewers:
		ctx.Response.Header.Set("Retry-After", "5")
	}
	if ae.status == fasthttp.StatusMethodNotAllowed {
		// The Allow header is the part of the message a client library can read.
		ctx.Response.Header.Set("Allow", ae.message[len("use "):])
	}
	// Written into the response's own body buffer, taken out and put back (SwapBody), which the connection
	// reuses: refusals under overload, most answers then, must not allocate.
	b := append(ctx.Response.SwapBody(nil)[:0], `{"error":{"code":`...)
	b = appendString(b, ae.code)
	if ae.field != "" {
		b = append(b, `,"field":`...)
		b = appendString(b, ae.field)
	}
	b = append(b, `,"message":`...)
	b = appendString(b, ae.message)
	b = append(b, "}}"...)
	ctx.SetStatusCode(ae.status)
	ctx.SetContentType(contentTypeJSON)
	ctx.Response.SwapBody(b)
}

const contentTypeJSON = "application/json"
