package integrations_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/client"
	"github.com/riskd/riskd/server"
	"github.com/riskd/riskd/server/servertest"
)

// The examples of docs/INTEGRATING.md, each run here: every fenced block of the page is one of the kinds below,
// and a block of any other kind fails the test, so that nothing on the page goes unchecked.

const docsKey = "rk_docs_example_decide_key"

var fence = regexp.MustCompile("(?ms)^( *)```([a-z]*)\\n(.*?)^ *```$")

type docBlock struct{ lang, text string }

func docBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	for _, m := range fence.FindAllStringSubmatch(string(doc), -1) {
		indent, text := m[1], m[3]
		if indent != "" { // a block inside a list item: its lines carry the item's indentation
			lines := strings.Split(text, "\n")
			for i, l := range lines {
				lines[i] = strings.TrimPrefix(l, indent)
			}
			text = strings.Join(lines, "\n")
		}
		blocks = append(blocks, docBlock{m[2], text})
	}
	return blocks
}

// TestIntegratingExamples sends each HTTP request of docs/INTEGRATING.md, as written, to a real riskd (the
// built-in rules, a keyring holding the page's key), and checks the answer shown after it: the status, and in
// the body the decision, score, reason codes, status, required_aal, error code and field, and message ids
// exactly, every other documented field by presence. "$EVALUATION_ID" in a request is the evaluation_id of the
// last answer that had one. The excerpts of shipped files must be in those files.
func TestIntegratingExamples(t *testing.T) {
	keys, err := server.ParseKeyring(fmt.Appendf(nil, "keys:\n  - name: docs\n    sha256: %s\n    scopes: [decide]\n", server.HashSecret(docsKey)))
	if err != nil {
		t.Fatal(err)
	}
	// The Kratos hooks' deadline is the test's budget for a cold user-agent parser under the race detector.
	base := servertest.Start(t, server.Config{Keys: keys, KratosDeadline: time.Minute})
	excerptOf := map[string]string{"js": "auth0/action.js", "yaml": "kratos/kratos.riskd.yml"}
	var pending *http.Request
	var pendingBody, evaluationID string
	exchanges := 0
	for i, b := range docBlocks(t, "../docs/INTEGRATING.md") {
		switch {
		case b.lang == "http" && !strings.HasPrefix(b.text, "HTTP/"):
			if pending != nil {
				t.Fatalf("block %d: the request before it has no documented answer", i)
			}
			head, body := splitMessage(strings.ReplaceAll(b.text, "$EVALUATION_ID", evaluationID))
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
			if err != nil {
				t.Fatalf("block %d is not an HTTP request: %v\n%s", i, err, b.text)
			}
			pending, pendingBody = req, body
		case b.lang == "http":
			if pending == nil {
				t.Fatalf("block %d: an answer without a request", i)
			}
			head, wantBody := splitMessage(b.text)
			want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(head)), nil)
			if err != nil {
				t.Fatalf("block %d is not an HTTP answer: %v\n%s", i, err, b.text)
			}
			exchanges++
			name := fmt.Sprintf("exchange %d (%s %s)", exchanges, pending.Method, pending.RequestURI)
			status, got := sendDocumented(t, base, pending, pendingBody)
			if status != want.StatusCode {
				t.Errorf("%s: status %d, documented %d: %v", name, status, want.StatusCode, got)
			}
			var documented any
			if err := json.Unmarshal([]byte(wantBody), &documented); err != nil {
				t.Fatalf("%s: the documented answer is not JSON: %v", name, err)
			}
			matchDocumented(t, name, "", documented, got)
			if m, ok := got.(map[string]any); ok {
				if id, ok := m["evaluation_id"].(string); ok {
					evaluationID = id
				}
			}
			pending = nil
		case excerptOf[b.lang] != "":
			src, err := os.ReadFile(excerptOf[b.lang])
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(trimLines(string(src)), trimLines(b.text)) {
				t.Errorf("block %d (%s) is not an excerpt of %s:\n%s", i, b.lang, excerptOf[b.lang], b.text)
			}
		case b.lang == "go":
			if want := goClientExample(t); b.text != want {
				t.Errorf("the Go example differs from the code TestIntegratingGoClient runs (docs_test.go):\n--- docs\n%s--- test\n%s", b.text, want)
			}
		default:
			t.Errorf("block %d: a %q block that no test runs:\n%s", i, b.lang, b.text)
		}
	}
	if pending != nil {
		t.Fatal("the last request has no documented answer")
	}
	if exchanges < 10 {
		t.Fatalf("%d exchanges in docs/INTEGRATING.md: the examples were not found", exchanges)
	}
}

// splitMessage splits an HTTP message as documented into its head, with CRLF line ends and the blank line, and
// its body.
func splitMessage(text string) (head, body string) {
	h, b, _ := strings.Cut(text, "\n\n")
	return strings.ReplaceAll(h, "\n", "\r\n") + "\r\n\r\n", strings.TrimSpace(b)
}

// trimLines strips every line's indentation: an excerpt in a list item is indented otherwise than in its file.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

func sendDocumented(t *testing.T, base string, doc *http.Request, body string) (int, any) {
	t.Helper()
	u, err := url.Parse(base + doc.RequestURI)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(doc.Method, u.String(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = doc.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var got any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%s %s: the answer is not JSON: %s", doc.Method, doc.RequestURI, raw)
	}
	return resp.StatusCode, got
}

// exactKeys are the fields whose documented value must be the one riskd answers.
var exactKeys = []string{"decision", "score", "status", "required_aal", "code", "field", "id", "type", "fallback", "rules_version", "instance_ptr"}

// matchDocumented checks got against the documented value w: objects by their documented keys, arrays element
// by element (reasons by their codes), and the values of exactKeys exactly; a documented string ending in "…"
// only by its beginning.
func matchDocumented(t *testing.T, name, key string, w, got any) {
	t.Helper()
	switch w := w.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: %s is %v, documented an object", name, key, got)
			return
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				t.Errorf("%s: the answer has no %q: %v", name, k, g)
				continue
			}
			matchDocumented(t, name, k, wv, gv)
		}
	case []any:
		g, _ := got.([]any)
		if len(g) != len(w) {
			t.Errorf("%s: %s has %d elements, documented %d: %v", name, key, len(g), len(w), got)
			return
		}
		for i := range w {
			matchDocumented(t, name, key, w[i], g[i])
		}
	case string:
		if strings.HasSuffix(w, "…") {
			if !strings.HasPrefix(fmt.Sprint(got), strings.TrimSuffix(w, "…")) {
				t.Errorf("%s: %s is %v, documented %q", name, key, got, w)
			}
			return
		}
		if slices.Contains(exactKeys, key) && fmt.Sprint(got) != w {
			t.Errorf("%s: %s is %v, documented %v", name, key, got, w)
		}
	default:
		if slices.Contains(exactKeys, key) && fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s: %s is %v, documented %v", name, key, got, w)
		}
	}
}

// TestIntegratingGoClient runs the Go example of docs/INTEGRATING.md (the code between the docs markers below,
// which TestIntegratingExamples holds equal to the page) against a real riskd: a first login is allowed, and
// the outcome reaches riskd.
func TestIntegratingGoClient(t *testing.T) {
	keys, err := server.ParseKeyring(fmt.Appendf(nil, "keys:\n  - name: docs\n    sha256: %s\n    scopes: [decide]\n", server.HashSecret(docsKey)))
	if err != nil {
		t.Fatal(err)
	}
	base := servertest.Start(t, server.Config{Keys: keys})
	t.Setenv("RISKD_API_KEY", docsKey)
	postDocs(t, base, `{"type":"login","user_id":"warm-up","ip":"89.160.20.112","user_agent":"Mozilla/5.0"}`)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	asked := false
	if err := integrateGoClient(ctx, base, "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", func() bool { asked = true; return true }); err != nil {
		t.Fatal(err)
	}
	if asked {
		t.Fatal("a first login from a clean place was stepped up")
	}
	// The example's login_succeeded reached riskd (Close sent it): the same login is now familiar, with no reason.
	var d struct {
		Decision string `json:"decision"`
		Reasons  []any  `json:"reasons"`
	}
	json.Unmarshal(postDocs(t, base, `{"type":"login","user_id":"cy","ip":"216.160.83.56","device_id":"d-3e9a41f0","credentials_valid":true}`), &d)
	if d.Decision != "allow" || len(d.Reasons) != 0 {
		t.Fatalf("the login after the example: %+v", d)
	}
}

func postDocs(t *testing.T, base, body string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/decide", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+docsKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("decide: %d %s", resp.StatusCode, raw)
	}
	return raw
}

var errLoginRefused = errors.New("login refused")

// integrateGoClient is the Go example of docs/INTEGRATING.md.
func integrateGoClient(ctx context.Context, riskdURL, userAgent string, askSecondFactor func() bool) error {
	// docs:begin
	rc, err := client.New(client.Config{BaseURL: riskdURL, APIKey: os.Getenv("RISKD_API_KEY")})
	if err != nil {
		return err
	}
	defer rc.Close(context.Background()) // sends the outcomes still queued

	valid := true // the password was right
	d, err := rc.Decide(ctx, &client.DecideRequest{Type: client.Login, UserID: "cy", IP: "216.160.83.56",
		DeviceID: "d-3e9a41f0", UserAgent: userAgent, CredentialsValid: &valid})
	if err != nil {
		return err // riskd refused the request itself (a bad field, a wrong key): a bug to fix, not an outage
	}
	if d.Fallback {
		log.Printf("riskd gave no answer (%v): the fail policy decided %s", d.Cause, d.Decision)
	}
	switch d.Decision {
	case client.Deny:
		return errLoginRefused
	case client.StepUp:
		if !askSecondFactor() {
			rc.Enqueue(client.Outcome{Type: client.MFAFailed, UserID: "cy", IP: "216.160.83.56", DeviceID: "d-3e9a41f0", EvaluationID: d.EvaluationID})
			return errLoginRefused
		}
		rc.Enqueue(client.Outcome{Type: client.MFAPassed, UserID: "cy", IP: "216.160.83.56", DeviceID: "d-3e9a41f0", EvaluationID: d.EvaluationID})
	}
	rc.Enqueue(client.Outcome{Type: client.LoginSucceeded, UserID: "cy", IP: "216.160.83.56", DeviceID: "d-3e9a41f0", EvaluationID: d.EvaluationID})
	// docs:end
	return nil
}

// goClientExample is the code between the docs markers of integrateGoClient, without the function's indentation.
func goClientExample(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("docs_test.go")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "\t// docs:begin\n", "\t// docs:end\n"
	s := string(src)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("docs_test.go lost its docs markers")
	}
	lines := strings.SplitAfter(s[i+len(begin):j], "\n")
	for k, l := range lines {
		lines[k] = strings.TrimPrefix(l, "\t")
	}
	return strings.Join(lines, "")
}
