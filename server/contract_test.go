package server_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/riskd/riskd/api"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/internal/contracttest"
	"github.com/riskd/riskd/server"
)

// Every test that starts a server (start, startWith) sends its traffic through contracttest.Transport, which
// checks each request and answer against api/openapi.yaml. The tests below show that this check can fail, and
// hold the parts of the contract that traffic alone would not cover to the code.

// exchange sends req without the contract check and returns the answer and both bodies.
func exchange(t *testing.T, req *http.Request, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, raw
}

func newRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// TestContractCatchesDrift takes real exchanges the contract accepts and changes them the way a server change
// without a contract change would: each variation must be refused.
func TestContractCatchesDrift(t *testing.T) {
	c, err := contracttest.Load()
	if err != nil {
		t.Fatal(err)
	}
	ts := start(t)
	decideBody := []byte(`{"type":"login","user_id":"drift","ip":"` + ipTor + `","device_id":"d1","credentials_valid":true}`) // a Tor exit: reasons
	req := newRequest(t, "POST", ts.base+"/v1/decide?explain=1", decideBody)
	resp, raw := exchange(t, req, decideBody)
	if err := c.Check(req, decideBody, resp, raw); err != nil {
		t.Fatalf("a real decision does not match the contract: %v", err)
	}

	t.Run("a field added to the decision", func(t *testing.T) {
		changed := bytes.Replace(raw, []byte(`{"decision":`), []byte(`{"risk_band":"low","decision":`), 1)
		if err := c.Check(req, decideBody, resp, changed); err == nil {
			t.Fatal("an undocumented field in the decision passed the contract")
		}
	})
	t.Run("a field added to a reason", func(t *testing.T) {
		changed := bytes.Replace(raw, []byte(`"reasons":[{"code":`), []byte(`"reasons":[{"weight":1,"code":`), 1)
		if bytes.Equal(changed, raw) {
			t.Fatalf("no reason in this decision: %s", raw)
		}
		if err := c.Check(req, decideBody, resp, changed); err == nil {
			t.Fatal("an undocumented field in a reason passed the contract")
		}
	})
	t.Run("a feature added to the explanation", func(t *testing.T) {
		changed := bytes.Replace(raw, []byte(`"features":{`), []byte(`"features":{"new_signal":1,`), 1)
		if err := c.Check(req, decideBody, resp, changed); err == nil {
			t.Fatal("an undocumented feature passed the contract")
		}
	})
	t.Run("a decision riskd does not have", func(t *testing.T) {
		changed := regexp.MustCompile(`"decision":"[a-z_]+"`).ReplaceAll(raw, []byte(`"decision":"review"`))
		if err := c.Check(req, decideBody, resp, changed); err == nil {
			t.Fatal("an undocumented decision passed the contract")
		}
	})
	t.Run("an undocumented error code", func(t *testing.T) {
		bad := []byte(`{"type":"login","ip":"` + ipMilton + `"}`)
		req := newRequest(t, "POST", ts.base+"/v1/decide", bad)
		resp, raw := exchange(t, req, bad)
		if err := c.Check(req, bad, resp, raw); err != nil {
			t.Fatalf("a real refusal does not match the contract: %v", err)
		}
		changed := bytes.Replace(raw, []byte(`"missing_field"`), []byte(`"user_required"`), 1)
		if err := c.Check(req, bad, resp, changed); err == nil {
			t.Fatal("an undocumented error code passed the contract")
		}
	})
	t.Run("an undocumented status", func(t *testing.T) {
		r := *resp
		r.StatusCode = http.StatusTeapot
		if err := c.Check(req, decideBody, &r, raw); err == nil {
			t.Fatal("an undocumented status passed the contract")
		}
	})
	t.Run("a request field the contract does not know, accepted", func(t *testing.T) {
		body := []byte(`{"type":"login","user_id":"drift","ip":"` + ipMilton + `","risk_hint":"low"}`)
		if err := c.Check(newRequest(t, "POST", ts.base+"/v1/decide", body), body, resp, raw); err == nil {
			t.Fatal("a server accepting an undocumented request field passed the contract")
		}
	})
	// The decoder's rules that need JSON Schema 2020-12 (OpenAPI 3.1): user_id required except for
	// registrations, currency with amount, null read as absent.
	for _, rc := range []struct {
		name, body string
		valid      bool
	}{
		{"a login without user_id, accepted", `{"type":"login","ip":"` + ipMilton + `"}`, false},
		{"a registration without user_id, accepted", `{"type":"registration","ip":"` + ipMilton + `"}`, true},
		{"an amount without currency, accepted", `{"type":"checkout","user_id":"u","ip":"` + ipMilton + `","amount":5}`, false},
		{"an amount with currency, accepted", `{"type":"checkout","user_id":"u","ip":"` + ipMilton + `","amount":5,"currency":"EUR"}`, true},
		{"nulls for optional fields, accepted", `{"type":"login","user_id":"u","ip":"` + ipMilton + `","device_id":null,"amount":null,"attributes":null}`, true},
		{"a control character in device_id, accepted", `{"type":"login","user_id":"u","ip":"` + ipMilton + `","device_id":"a\u0001b"}`, false},
		{"a timestamp that is not RFC 3339, accepted", `{"type":"login","user_id":"u","ip":"` + ipMilton + `","timestamp":"yesterday"}`, false},
	} {
		t.Run(rc.name, func(t *testing.T) {
			body := []byte(rc.body)
			err := c.Check(newRequest(t, "POST", ts.base+"/v1/decide", body), body, resp, raw)
			if rc.valid && err != nil {
				t.Fatalf("the contract refuses a request riskd accepts: %v", err)
			}
			if !rc.valid && err == nil {
				t.Fatal("a server accepting a request riskd refuses passed the contract")
			}
		})
	}
	t.Run("an HTML error page", func(t *testing.T) {
		r := *resp
		r.StatusCode = http.StatusNotFound
		r.Header = http.Header{"Content-Type": {"text/html"}}
		if err := c.Check(newRequest(t, "GET", ts.base+"/nowhere", nil), nil, &r, []byte("<html>not found</html>")); err == nil {
			t.Fatal("an HTML error passed the contract")
		}
	})
}

// TestSpecServedWithoutKey: GET /openapi.yaml answers the embedded document to anyone, keys or not.
func TestSpecServedWithoutKey(t *testing.T) {
	ts := startWith(t, func(c *server.Config) { c.Keys = testKeyring(t) })
	resp, err := ts.client.Get(ts.base + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/yaml" || string(raw) != api.Spec() {
		t.Fatalf("GET /openapi.yaml: %d %q, %d bytes; want 200 application/yaml and the embedded document", resp.StatusCode,
			resp.Header.Get("Content-Type"), len(raw))
	}
	if !strings.HasPrefix(api.Spec(), "openapi: 3.1.") {
		t.Fatal("api/openapi.yaml is not an OpenAPI 3.1 document")
	}
	if status, m := ts.do("POST", "/openapi.yaml", "application/json", []byte(`{}`)); status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /openapi.yaml: %d %v, want 405", status, m)
	}
}

// TestContractFeaturesAreTheVector: the explanation's features schema lists exactly the vector's fields, with
// their JSON types, so a feature added to the engine must be added to the contract.
func TestContractFeaturesAreTheVector(t *testing.T) {
	c, err := contracttest.Load()
	if err != nil {
		t.Fatal(err)
	}
	schema := c.Doc().Components.Schemas["Features"].Value
	jsonType := map[string]string{"bool": "boolean", "int": "integer", "float": "number", "string": "string"}
	var names []string
	for _, f := range features.Fields() {
		names = append(names, f.Name)
		p := schema.Properties[f.Name]
		if p == nil {
			t.Errorf("feature %q is not in the contract's Features schema", f.Name)
			continue
		}
		if !p.Value.Type.Is(jsonType[f.Type]) {
			t.Errorf("feature %q is %s in the contract, %s in the vector", f.Name, p.Value.Type.Slice(), jsonType[f.Type])
		}
	}
	for name := range schema.Properties {
		if !slices.Contains(names, name) {
			t.Errorf("the contract's Features schema has %q, which the vector does not", name)
		}
	}
	if len(schema.Required) != len(names) {
		t.Errorf("the contract requires %d features, the vector has %d", len(schema.Required), len(names))
	}
}

// TestContractHasEveryErrorCode: every error code the server's code can answer is in the contract, with the
// status it is answered with. Read from the source, since some codes (a full Redis, a failing disk) are hard
// to provoke in a test.
func TestContractHasEveryErrorCode(t *testing.T) {
	c, err := contracttest.Load()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	statusOf := map[string]string{"BadRequest": "400", "Unauthorized": "401", "Forbidden": "403", "NotFound": "404",
		"MethodNotAllowed": "405", "Conflict": "409", "RequestEntityTooLarge": "413", "UnsupportedMediaType": "415",
		"MisdirectedRequest": "421", "UnprocessableEntity": "422", "TooManyRequests": "429", "InternalServerError": "500",
		"ServiceUnavailable": "503"}
	withStatus := regexp.MustCompile(`status: fasthttp\.Status(\w+), code: "(\w+)"`)
	badField := regexp.MustCompile(`badField\("(\w+)"`)
	pathID := regexp.MustCompile(`"(invalid_\w+_(?:name|id))"`)
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check := func(status, code string) {
			found++
			if err := c.ValidateSchema("ErrorCode"+status, []byte(`"`+code+`"`)); err != nil {
				t.Errorf("%s: error code %q (status %s) is not in the contract's ErrorCode%s", f, code, status, status)
			}
		}
		for _, m := range withStatus.FindAllStringSubmatch(string(src), -1) {
			check(statusOf[m[1]], m[2])
		}
		for _, m := range badField.FindAllStringSubmatch(string(src), -1) {
			check("400", m[1])
		}
		for _, m := range pathID.FindAllStringSubmatch(string(src), -1) {
			check("400", m[1])
		}
	}
	if found < 40 {
		t.Fatalf("found %d error codes in the source; the patterns no longer match how errors are written", found)
	}
}
