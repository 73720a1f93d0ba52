package contracttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/riskd/riskd/api"
)

// Contract is the loaded OpenAPI document, a router over its paths, and the JSON bodies' schemas compiled once.
type Contract struct {
	doc    *openapi3.T
	router routers.Router

	// kin-openapi compiles a JSON Schema 2020-12 validator for each body it validates (8 ms a decision, far
	// more under the race detector, for every request of the server's suite). JSON bodies are validated here
	// instead, against the same document, with each schema compiled once.
	mu       sync.Mutex
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema // by JSON pointer into the document
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
	compiler, err := newCompiler()
	if err != nil {
		return nil, err
	}
	return &Contract{doc: doc, router: router, compiler: compiler, schemas: map[string]*jsonschema.Schema{}}, nil
})

// docURL names the document as a JSON Schema resource; its schemas are compiled by JSON pointer into it.
const docURL = "https://riskd.invalid/openapi.json"

// newCompiler loads the document, as written (YAML read into JSON values), as one JSON Schema 2020-12
// resource, so that its "#/components/schemas/..." references resolve as they are written.
func newCompiler() (*jsonschema.Compiler, error) {
	var doc any
	if err := yaml.Unmarshal([]byte(api.Spec()), &doc); err != nil {
		return nil, fmt.Errorf("contracttest: read api/openapi.yaml: %w", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("contracttest: api/openapi.yaml as JSON: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, v); err != nil {
		return nil, fmt.Errorf("contracttest: api/openapi.yaml as a JSON Schema resource: %w", err)
	}
	return c, nil
}

// schemaAt compiles (once) the schema at pointer, a JSON pointer into the document.
func (c *Contract) schemaAt(pointer string) (*jsonschema.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.schemas[pointer]; s != nil {
		return s, nil
	}
	s, err := c.compiler.Compile(docURL + "#" + pointer)
	if err != nil {
		return nil, fmt.Errorf("contracttest: compile %s: %w", pointer, err)
	}
	c.schemas[pointer] = s
	return s, nil
}

// validateJSON validates body, JSON, against the schema at pointer.
func (c *Contract) validateJSON(pointer string, body []byte) error {
	s, err := c.schemaAt(pointer)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(v)
}

// escape escapes a JSON pointer token.
func escape(token string) string {
	return strings.ReplaceAll(strings.ReplaceAll(token, "~", "~0"), "/", "~1")
}

// schemaPointer is the JSON pointer of the schema of content type ct in content, found at base (a pointer or a
// component's $ref).
func schemaPointer(base, ref string, content openapi3.Content, ct string) (string, bool) {
	if ref != "" {
		base = strings.TrimPrefix(ref, "#")
	}
	mt := content.Get(ct)
	if mt == nil || mt.Schema == nil {
		return "", false
	}
	var key string
	for k, v := range content {
		if v == mt {
			key = k
		}
	}
	if mt.Schema.Ref != "" {
		return strings.TrimPrefix(mt.Schema.Ref, "#"), true
	}
	return base + "/content/" + escape(key) + "/schema", true
}

func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

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
	opPointer := "/paths/" + escape(route.Path) + "/" + strings.ToLower(req.Method)
	reqOpts := c.options()
	reqOpts.ExcludeRequestBody = isJSON(req.Header.Get("Content-Type")) // validated below
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: reqOpts}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr == nil && reqOpts.ExcludeRequestBody {
		reqErr = c.checkRequestBody(route.Operation, opPointer, req.Header.Get("Content-Type"), reqBody)
	}
	if reqErr != nil && resp.StatusCode < 400 {
		return fmt.Errorf("the server accepted (%d) a request the contract refuses: %w", resp.StatusCode, reqErr)
	}
	respOpts := c.options()
	// JSON answers are validated below; an answer to HEAD has the headers of the GET and no body.
	respOpts.ExcludeResponseBody = isJSON(resp.Header.Get("Content-Type")) || req.Method == http.MethodHead
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Options: respOpts}
	out.SetBodyBytes(respBody)
	err = openapi3filter.ValidateResponse(ctx, out)
	if err == nil && respOpts.ExcludeResponseBody && req.Method != http.MethodHead {
		err = c.checkResponseBody(route.Operation, opPointer, resp, respBody)
	}
	if err != nil {
		return fmt.Errorf("answer %d %s does not match the contract: %w", resp.StatusCode, truncate(respBody), err)
	}
	return nil
}

// checkRequestBody validates a JSON request body against its operation's schema.
func (c *Contract) checkRequestBody(op *openapi3.Operation, opPointer, ct string, body []byte) error {
	if op.RequestBody == nil {
		if len(body) > 0 {
			return errors.New("a body where the operation takes none")
		}
		return nil
	}
	if len(body) == 0 {
		if op.RequestBody.Value.Required {
			return errors.New("no body where the operation requires one")
		}
		return nil
	}
	ptr, ok := schemaPointer(opPointer+"/requestBody", op.RequestBody.Ref, op.RequestBody.Value.Content, ct)
	if !ok {
		return fmt.Errorf("content type %q is not documented for this request", ct)
	}
	if err := c.validateJSON(ptr, body); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

// checkResponseBody validates a JSON answer against its operation's schema for its status (ValidateResponse
// has checked that the status is documented).
func (c *Contract) checkResponseBody(op *openapi3.Operation, opPointer string, resp *http.Response, body []byte) error {
	status := strconv.Itoa(resp.StatusCode)
	ref := op.Responses.Value(status)
	if ref == nil {
		return fmt.Errorf("status %s is not documented", status)
	}
	ptr, ok := schemaPointer(opPointer+"/responses/"+status, ref.Ref, ref.Value.Content, resp.Header.Get("Content-Type"))
	if !ok {
		return fmt.Errorf("content type %q is not documented for status %s", resp.Header.Get("Content-Type"), status)
	}
	return c.validateJSON(ptr, body)
}

// checkError validates an error answer to a request no operation documents against the Error schema.
func (c *Contract) checkError(resp *http.Response, body []byte) error {
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("error answer %d with content type %q, not application/json: %s", resp.StatusCode, ct, truncate(body))
	}
	name := fmt.Sprintf("Error%d", resp.StatusCode)
	if c.doc.Components.Schemas[name] == nil {
		return fmt.Errorf("error status %d is not documented: %s", resp.StatusCode, truncate(body))
	}
	if err := c.ValidateSchema(name, body); err != nil {
		return fmt.Errorf("error answer %d %s does not match the contract: %w", resp.StatusCode, truncate(body), err)
	}
	return nil
}

// ValidateSchema validates a JSON value against the named component schema.
func (c *Contract) ValidateSchema(name string, body []byte) error {
	if c.doc.Components.Schemas[name] == nil {
		return fmt.Errorf("no schema %q", name)
	}
	return c.validateJSON("/components/schemas/"+escape(name), body)
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
