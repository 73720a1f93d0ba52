package contracttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/riskd/riskd/api"
)

// Contract is the loaded OpenAPI document and a router over its paths.
type Contract struct {
	doc    *openapi3.T
	router routers.Router
}

// Load returns the contract. The document is parsed once per test binary (a few hundred tests start a server
// each); the result is never changed after.
func Load() (*Contract, error) { return loadOnce() }

var loadOnce = sync.OnceValues(func() (*Contract, error) {
	// text/yaml and text/x-yaml are rule-file types riskd accepts that kin-openapi does not decode by itself.
	openapi3filter.RegisterBodyDecoder("text/yaml", openapi3filter.YamlBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/x-yaml", openapi3filter.YamlBodyDecoder)
	doc, err := openapi3.NewLoader().LoadFromData([]byte(api.Spec()))
	if err != nil {
		return nil, fmt.Errorf("contracttest: load api/openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("contracttest: api/openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	// Tests serve on random loopback ports: route by path and method alone, not by the documented server.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("contracttest: route api/openapi.yaml: %w", err)
	}
	return &Contract{doc: doc, router: router}, nil
})

// Doc is the loaded document, for tests that compare it with the code (the feature vector's fields).
func (c *Contract) Doc() *openapi3.T { return c.doc }

func (c *Contract) options() *openapi3filter.Options {
	// Keys are checked by riskd itself (and by its tests); the contract states which scope each operation needs.
	return &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
}

// Check validates one exchange: req (whose body was reqBody) and the answer resp (whose body is respBody).
//
//   - A request to no documented operation must be refused with a 4xx JSON error of the documented shape.
//   - A request the contract refuses must be refused by the server too (4xx): a server that accepts it means the
//     contract is stricter than the server, which is drift as well.
//   - Every answer must be documented for its operation and status, with its content type and body schema;
//     response schemas refuse undocumented fields (additionalProperties: false).
func (c *Contract) Check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) error {
	ctx := context.Background()
	req = req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			return fmt.Errorf("undocumented operation (%v) answered %d", err, resp.StatusCode)
		}
		return c.checkError(resp, respBody)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: c.options()}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr != nil && resp.StatusCode < 400 {
		return fmt.Errorf("the server accepted (%d) a request the contract refuses: %w", resp.StatusCode, reqErr)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Options: c.options()}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("answer %d %s does not match the contract: %w", resp.StatusCode, truncate(respBody), err)
	}
	return nil
}

// checkError validates an error answer to a request no operation documents against the Error schema.
func (c *Contract) checkError(resp *http.Response, body []byte) error {
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("error answer %d with content type %q, not application/json: %s", resp.StatusCode, ct, truncate(body))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("error answer %d is not JSON: %w", resp.StatusCode, err)
	}
	schema := c.doc.Components.Schemas[fmt.Sprintf("Error%d", resp.StatusCode)]
	if schema == nil {
		return fmt.Errorf("error status %d is not documented: %s", resp.StatusCode, truncate(body))
	}
	if err := schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("error answer %d %s does not match the contract: %w", resp.StatusCode, truncate(body), err)
	}
	return nil
}

// ValidateSchema validates a JSON value against the named component schema.
func (c *Contract) ValidateSchema(name string, body []byte) error {
	schema := c.doc.Components.Schemas[name]
	if schema == nil {
		return fmt.Errorf("no schema %q", name)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// Transport returns a RoundTripper that sends through next (http.DefaultTransport when nil) and checks every
// exchange against the contract, failing tb on any mismatch. The answer is passed on unchanged.
func Transport(tb testing.TB, next http.RoundTripper) http.RoundTripper {
	tb.Helper()
	c, err := Load()
	if err != nil {
		tb.Fatal(err)
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{tb: tb, contract: c, next: next}
}

type transport struct {
	tb       testing.TB
	contract *Contract
	next     http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		reqBody, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err := t.contract.Check(req, reqBody, resp, respBody); err != nil {
		t.tb.Errorf("contract: %s %s: %v", req.Method, req.URL.RequestURI(), err)
	}
	return resp, nil
}
