package server

import (
	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/api"
)

// handleSpec serves the OpenAPI document to anyone, without a key: it is the contract docs/API.md also
// publishes, and holds nothing of the deployment (no keys, rules, lists or addresses).
func (s *Server) handleSpec(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		writeError(ctx, methodNotAllowed("GET"))
		return
	}
	ctx.SetContentType("application/yaml")
	ctx.SetBodyString(api.Spec())
}
