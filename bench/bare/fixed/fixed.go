package fixed

import (
	"time"

	"github.com/valyala/fasthttp"
)

// Decision is the body of every /v1/decide answer: riskd's shape, so clients parse the same bytes.
const Decision = `{"decision":"allow","score":0,"reasons":[],"evaluation_id":"0000000000000000","rules_version":"bare","took_us":0}`

// Handle answers POST /v1/decide with Decision, GET /healthz (and /readyz) with 200, and anything else with
// 404 or 405.
func Handle(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/v1/decide":
		if !ctx.IsPost() {
			ctx.Response.Header.Set("Allow", "POST")
			ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBodyString(Decision)
	case "/healthz", "/readyz":
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}`)
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	}
}

// NewServer returns a server for Handle with the settings riskd's server.New uses, so the two differ only in
// the handler.
func NewServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                       Handle,
		Name:                          "bare",
		MaxRequestBodySize:            16 << 10,
		Concurrency:                   4096,
		ReadTimeout:                   5 * time.Second,
		WriteTimeout:                  5 * time.Second,
		IdleTimeout:                   60 * time.Second,
		ReadBufferSize:                8 << 10,
		DisableHeaderNamesNormalizing: true,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		CloseOnShutdown:               true,
	}
}
