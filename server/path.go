package server

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"
)

// The one reading of a request's path, shared by the router and the handlers: the path exactly as the client
// sent it (fasthttp's PathOriginal), without its query. The fixed routes (decide, events, health, readiness,
// metrics) match it byte for byte. The admin routes split it at its literal slashes and percent-decode each
// segment once; route names and ids (a user id, a list name, an exception id) are compared and passed on as
// those decoded segments, and a decoded "/" is data, never a separator.
//
// fasthttp's Path() is not that reading: it decodes %2F into "/" and then resolves "..", so
// "/v1/users/x%2F..%2F..%2Frules%2Fshadow" is "/v1/rules/shadow" to it. Routing on Path() while a handler read
// the id from the raw path let the erasure of a user delete the shadow rule set. Nothing in this package may
// route on, or read ids from, ctx.Path().

// rawPath is the request's path as sent, without the query.
func rawPath(ctx *fasthttp.RequestCtx) []byte { return ctx.URI().PathOriginal() }

// splitPath splits a raw path at its slashes and percent-decodes each segment once. A decoded segment may hold
// "/" (an id escaped as %2F), which is data from then on.
func splitPath(raw []byte) ([]string, *apiError) {
	if len(raw) == 0 || raw[0] != '/' || bytes.IndexByte(raw, '\\') >= 0 {
		return nil, errInvalidPath
	}
	segs := strings.Split(string(raw[1:]), "/")
	for i, seg := range segs {
		if seg == "." || seg == ".." {
			return nil, errInvalidPath
		}
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return nil, errInvalidPath
		}
		segs[i] = dec
	}
	return segs, nil
}

// pathID checks an id decoded from a path segment: 1 to maxLen bytes, and not "." or "..", which a client or
// proxy that decodes %2E before resolving dot segments would turn into a step up the path.
func pathID(id string, maxLen int, code, field string) (string, *apiError) {
	if id == "" || len(id) > maxLen || id == "." || id == ".." {
		return "", badField(code, field, "the %s in the path must be 1 to %d bytes, not . or .., URL-escaped", field, maxLen)
	}
	return id, nil
}
