package fixed

import (
	"encoding/json"
	"testing"

	"github.com/valyala/fasthttp"
)

func call(method, path string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	Handle(&ctx)
	return &ctx
}

func TestHandle(t *testing.T) {
	ctx := call("POST", "/v1/decide")
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != Decision ||
		string(ctx.Response.Header.ContentType()) != "application/json" {
		t.Fatalf("decide: %d %q %q", ctx.Response.StatusCode(), ctx.Response.Header.ContentType(), ctx.Response.Body())
	}
	// The fixed decision has riskd's shape, so clients parse the same fields from both.
	var d struct {
		Decision     string   `json:"decision"`
		Score        int      `json:"score"`
		Reasons      []string `json:"reasons"`
		EvaluationID string   `json:"evaluation_id"`
		RulesVersion string   `json:"rules_version"`
		TookUS       int      `json:"took_us"`
	}
	if err := json.Unmarshal([]byte(Decision), &d); err != nil || d.Decision != "allow" || d.Reasons == nil {
		t.Fatalf("Decision %s: %+v, %v", Decision, d, err)
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{{"GET", "/healthz", 200}, {"GET", "/readyz", 200}, {"GET", "/v1/decide", 405}, {"GET", "/nope", 404}} {
		if got := call(c.method, c.path).Response.StatusCode(); got != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, got, c.status)
		}
	}
}
