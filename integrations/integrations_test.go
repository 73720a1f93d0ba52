package integrations_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/server"
	"github.com/riskd/riskd/server/servertest"
)

// apiKey is the secret the templates send; riskd holds only its hash, with the decide scope, as an identity
// server's key would be.
const apiKey = "rk_integration_test_secret"

// startRiskd serves riskd (built-in rules, MaxMind's test GeoIP databases, in-memory state, an API keyring) on
// a loopback port and returns its base URL.
func startRiskd(t *testing.T) string {
	t.Helper()
	keys, err := server.ParseKeyring(fmt.Appendf(nil, "keys:\n  - name: idp\n    sha256: %s\n    scopes: [decide]\n",
		server.HashSecret(apiKey)))
	if err != nil {
		t.Fatal(err)
	}
	return servertest.Start(t, server.Config{Keys: keys})
}

// lookPath finds a program the test needs, skipping without it (failing under CI=true, where .ci/run installs it).
func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed, and CI=true requires it: %v", name, err)
		}
		t.Skipf("%s is not installed: install Node.js (apt-get install nodejs) to run the Auth0 Action's tests", name)
	}
	return p
}

// TestAuth0Action runs the Action's node tests, the one against a real riskd included.
func TestAuth0Action(t *testing.T) {
	node := lookPath(t, "node")
	base := startRiskd(t)
	// riskd's first decision costs a few times the next ones (lazy set-up): pay it here, outside the Action's
	// budget, which the real-riskd test sets to the 5 s maximum for a busy machine under the race detector.
	postJSON(t, base+"/v1/decide", []byte(`{"type":"login","user_id":"warm-up","ip":"89.160.20.112"}`))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=tap", "action.test.js")
	cmd.Dir = "auth0"
	cmd.Env = append(os.Environ(), "RISKD_TEST_URL="+base, "RISKD_TEST_API_KEY="+apiKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test action.test.js: %v\n%s", err, out)
	}
	// The real-riskd test skips itself without RISKD_TEST_URL: make sure it ran here.
	if !strings.Contains(string(out), "\n# skipped 0\n") || !strings.Contains(string(out), "\n# fail 0\n") {
		t.Fatalf("node --test: a test was skipped or failed:\n%s", out)
	}
	t.Logf("%s", lastLines(out, 9))
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// exampleBlock finds the HTTP exchanges integrations/keycloak/README.md documents: a JSON block after
// "<!-- riskd: POST /v1/… -->" is a request body, and the block after the next "<!-- riskd: answer -->" what
// riskd answers it.
var exampleBlock = regexp.MustCompile("(?s)<!-- riskd: (POST /v1/[a-z]+|answer) -->\\s*```json\\n(.*?)```")

// TestKeycloakExamples sends each request body documented for the Keycloak authenticator, as written (only
// "$EVALUATION_ID" is replaced by the evaluation_id of the decision before it), to a real riskd, and checks
// the documented answer: its decision, score, reason codes and status exactly, its other fields by presence.
func TestKeycloakExamples(t *testing.T) {
	doc, err := os.ReadFile("keycloak/README.md")
	if err != nil {
		t.Fatal(err)
	}
	base := startRiskd(t)
	blocks := exampleBlock.FindAllSubmatch(doc, -1)
	if len(blocks) < 8 {
		t.Fatalf("found %d example blocks in keycloak/README.md; the exchanges it documents are missing", len(blocks))
	}
	var evaluationID, path string
	var sent []byte
	exchanges := 0
	for i, b := range blocks {
		kind, body := string(b[1]), b[2]
		if kind != "answer" {
			if path != "" {
				t.Fatalf("block %d: the request to %s has no documented answer", i, path)
			}
			path, sent = strings.TrimPrefix(kind, "POST "), bytes.ReplaceAll(body, []byte("$EVALUATION_ID"), []byte(evaluationID))
			continue
		}
		if path == "" {
			t.Fatalf("block %d: an answer without a request", i)
		}
		exchanges++
		got := postJSON(t, base+path, sent)
		checkAnswer(t, fmt.Sprintf("exchange %d (POST %s)", exchanges, path), body, got)
		if id, ok := got["evaluation_id"].(string); ok {
			evaluationID = id
		}
		path = ""
	}
}

func postJSON(t *testing.T, url string, body []byte) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s %s: %d %s", url, body, resp.StatusCode, raw)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("POST %s: %v: %s", url, err, raw)
	}
	return got
}

func checkAnswer(t *testing.T, request string, documented []byte, got map[string]any) {
	t.Helper()
	var want map[string]any
	if err := json.Unmarshal(documented, &want); err != nil {
		t.Fatalf("the documented answer to %s is not JSON: %v", request, err)
	}
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: the answer has no %q: %v", request, k, got)
		case k == "reasons":
			if wc, gc := reasonCodes(w), reasonCodes(g); !slices.Equal(wc, gc) {
				t.Errorf("%s: reasons %v, documented %v", request, gc, wc)
			}
		case k == "decision" || k == "score" || k == "status":
			if fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("%s: %s is %v, documented %v", request, k, g, w)
			}
		}
	}
}

func reasonCodes(v any) []string {
	list, _ := v.([]any)
	codes := []string{}
	for _, r := range list {
		if m, ok := r.(map[string]any); ok {
			codes = append(codes, fmt.Sprint(m["code"]))
		}
	}
	return codes
}
