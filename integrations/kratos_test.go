package integrations_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/server"
	"github.com/riskd/riskd/server/servertest"
)

// Addresses of the end-to-end test: ipClean is in MaxMind's test City database (Linköping), ipTor is a Tor exit
// in its Anonymous-IP database, ipDenied is on the deny list the test gives riskd.
const (
	ipClean  = "89.160.20.112"
	ipTor    = "65.0.0.1"
	ipDenied = "203.0.113.66"
)

// kratosRules: a deny list, Tor exits stepped up, and a device where a second factor was passed trusted, as an
// operator's rules would.
const kratosRules = `version: kratos-e2e
thresholds: {step_up: 40, deny: 80}
rules:
  - {id: denylisted, when: 'in_list("denylist")', action: deny}
  - {id: tor_exit, when: is_tor, score: 60}
  - {id: trusted_device, when: trusted_device, score: -30}
`

// TestKratosEndToEnd runs a real Ory Kratos (built from the module proxy by the tool module in
// kratos/e2e/tool, cached under var/) with in-memory SQLite and integrations/kratos's configuration fragment and
// Jsonnet body against riskd on loopback, and drives its API flows as a native app would: a registration, a
// clean login that gets a session, a login from a deny-listed address refused with riskd's message, and a risky
// login that the application sends to aal2, where a TOTP code settles it and teaches riskd the device.
func TestKratosEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Kratos end-to-end test builds Ory Kratos once (minutes) and runs it; it runs in make test")
	}
	bin := kratosBinary(t)
	riskd := startRiskdForKratos(t)
	k := startKratos(t, bin, riskd)

	const email, password = "ana@example.com", "correct-horse-battery-staple-riskd"
	reg := k.submit(t, "registration", ipClean, "", map[string]any{"method": "password", "password": password, "traits": map[string]any{"email": email}})
	if reg.status != http.StatusOK || reg.token() == "" {
		t.Fatalf("registration: %d %s", reg.status, reg.raw)
	}

	// A clean login gets a session, and riskd requires nothing more of it.
	clean := k.submit(t, "login", ipClean, "", map[string]any{"method": "password", "identifier": email, "password": password})
	if clean.status != http.StatusOK || clean.token() == "" {
		t.Fatalf("clean login: %d %s", clean.status, clean.raw)
	}
	if aal := riskd.requiredAAL(t, k.whoami(t, clean.token())); aal != "aal1" {
		t.Fatalf("after a clean login riskd requires %s", aal)
	}

	// A login from a deny-listed address is refused, with riskd's message in the flow Kratos answers. The before
	// hook refuses the flow as it starts (Kratos v1.3 answers an API flow refused there with an error document
	// followed by the flow that carries the message); the after hook refuses a flow started elsewhere and
	// submitted from the address (400 and the flow, as for a wrong password).
	denied := k.submit(t, "login", ipDenied, "", map[string]any{"method": "password", "identifier": email, "password": password})
	if denied.status < 400 || denied.token() != "" || !refusedByRiskd(denied.raw) {
		t.Fatalf("login from a deny-listed address: %d %s", denied.status, denied.raw)
	}
	denied = k.submitFrom(t, "login", ipClean, ipDenied, "", map[string]any{"method": "password", "identifier": email, "password": password})
	if denied.status != http.StatusBadRequest || denied.token() != "" || !refusedByRiskd(denied.raw) {
		t.Fatalf("login submitted from a deny-listed address: %d %s", denied.status, denied.raw)
	}
	reg = k.submitFrom(t, "registration", ipClean, ipDenied, "", map[string]any{"method": "password", "password": password, "traits": map[string]any{"email": "eve@example.com"}})
	if reg.status != http.StatusBadRequest || reg.token() != "" || !refusedByRiskd(reg.raw) {
		t.Fatalf("registration submitted from a deny-listed address: %d %s", reg.status, reg.raw)
	}
	if status, raw := send(t, http.MethodGet, k.admin+"/admin/identities?credentials_identifier=eve@example.com", nil, nil); status != http.StatusOK || string(bytes.TrimSpace(raw)) != "[]" {
		t.Fatalf("the refused registration left an identity: %d %s", status, raw)
	}

	// The user enrols TOTP (with the clean session), then logs in through Tor: riskd steps up.
	secret := k.enrolTOTP(t, clean.token())
	risky := k.submit(t, "login", ipTor, "", map[string]any{"method": "password", "identifier": email, "password": password})
	if risky.status != http.StatusOK || risky.token() == "" {
		t.Fatalf("risky login: %d %s", risky.status, risky.raw)
	}
	session := k.whoami(t, risky.token())
	if got := aalOf(t, session); got != "aal1" {
		t.Fatalf("the risky login's session is at %s", got)
	}
	if aal := riskd.requiredAAL(t, session); aal != "aal2" {
		t.Fatalf("after a risky login riskd requires %s, want aal2", aal)
	}
	// The application sends the user to login at aal2 with the session; the TOTP code raises it.
	up := k.submit(t, "login", ipTor, risky.token(), map[string]any{"method": "totp", "totp_code": totp(t, secret, time.Now())})
	if up.status != http.StatusOK {
		t.Fatalf("login at aal2: %d %s", up.status, up.raw)
	}
	session = k.whoami(t, risky.token())
	if got := aalOf(t, session); got != "aal2" {
		t.Fatalf("after the second factor the session is at %s", got)
	}
	if aal := riskd.requiredAAL(t, session); aal != "aal1" {
		t.Fatalf("after the second factor riskd still requires %s", aal)
	}

	// The login at aal2 reported mfa_passed for the device the application's cookie names: riskd now trusts it,
	// and the next login through Tor from it is not stepped up.
	again := k.submit(t, "login", ipTor, "", map[string]any{"method": "password", "identifier": email, "password": password})
	if again.status != http.StatusOK || again.token() == "" {
		t.Fatalf("login from the trusted device: %d %s", again.status, again.raw)
	}
	if aal := riskd.requiredAAL(t, k.whoami(t, again.token())); aal != "aal1" {
		t.Fatalf("a login through Tor from the device that passed a second factor: riskd requires %s", aal)
	}
}

// --- riskd ----------------------------------------------------------------------------------------------------

type riskdForKratos struct{ base string }

func startRiskdForKratos(t *testing.T) riskdForKratos {
	t.Helper()
	keys, err := server.ParseKeyring(fmt.Appendf(nil, "keys:\n  - name: kratos\n    sha256: %s\n    scopes: [decide]\n",
		server.HashSecret(apiKey)))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Compile("kratos-e2e.yaml", []byte(kratosRules))
	if err != nil {
		t.Fatal(err)
	}
	h := features.NewHasher([]byte("test"))
	listReg := lists.NewRegistry(lists.Hashers{User: h.User, Device: h.Device}, nil)
	if err := listReg.Put("denylist", lists.IP, []lists.Entry{{Value: ipDenied, Note: "e2e"}}); err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewSet()
	eng := enginetest.New(t, reg, func(c *engine.Config) { c.Rules, c.Lists = set, listReg })
	// The deadline is the test's budget for a busy machine under the race detector, not the 250 ms default:
	// this test is about Kratos acting on riskd's answers (server's TestKratosDeadline is about the deadline).
	base := servertest.Start(t, server.Config{Engine: eng, Metrics: reg, Keys: keys, Lists: listReg, KratosDeadline: 10 * time.Second})
	// riskd's first decision compiles the user-agent parser: pay it here, as riskd serve does at start-up.
	postJSON(t, base+"/v1/decide", []byte(`{"type":"login","user_id":"warm-up","ip":"89.160.20.112","user_agent":"Mozilla/5.0"}`))
	return riskdForKratos{base: base}
}

// requiredAAL asks riskd, as the application does with the session whoami returned.
func (r riskdForKratos) requiredAAL(t *testing.T, whoami []byte) string {
	t.Helper()
	var out struct {
		RequiredAAL string `json:"required_aal"`
	}
	status, raw := send(t, http.MethodPost, r.base+"/v1/adapters/kratos/session", whoami,
		map[string]string{"Authorization": "Bearer " + apiKey, "Content-Type": "application/json"})
	if status != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("riskd session: %d %s", status, raw)
	}
	return out.RequiredAAL
}

// --- Kratos ---------------------------------------------------------------------------------------------------

// kratosBinary returns the Kratos binary of the version the tool module pins, building it into var/ the first
// time (a few minutes; nothing but the Go module proxy is needed).
func kratosBinary(t *testing.T) string {
	t.Helper()
	tool, err := filepath.Abs(filepath.Join("kratos", "e2e", "tool"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(tool, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/ory/kratos (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("kratos/e2e/tool/go.mod requires no github.com/ory/kratos version")
	}
	bin, err := filepath.Abs(filepath.Join("..", "var", "kratos-"+string(m[1]), "kratos"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("building Ory Kratos %s into %s (once; a few minutes)", m[1], bin)
	began := time.Now()
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(t.Context(), "go", "build", "-tags", "sqlite", "-o", tmp, "github.com/ory/kratos")
	cmd.Dir = tool
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building Kratos: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built Ory Kratos in %v", time.Since(began).Round(time.Second))
	return bin
}

type kratos struct {
	public, admin string
	client        *http.Client
}

// startKratos runs Kratos with the test's base configuration and the shipped fragment, pointed at riskd.
func startKratos(t *testing.T, bin string, riskd riskdForKratos) *kratos {
	t.Helper()
	dir := t.TempDir()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	publicPort, adminPort := freePort(t), freePort(t)
	base, err := os.ReadFile(filepath.Join("kratos", "testdata", "kratos.base.yml"))
	if err != nil {
		t.Fatal(err)
	}
	baseCfg := strings.NewReplacer("PUBLIC_PORT", publicPort, "ADMIN_PORT", adminPort,
		"SCHEMA_PATH", abs(filepath.Join("kratos", "testdata", "identity.schema.json"))).Replace(string(base))
	fragment, err := os.ReadFile(filepath.Join("kratos", "kratos.riskd.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// The fragment as shipped, with its three placeholders filled in as its comment says.
	riskdCfg := strings.NewReplacer("http://riskd.internal:8080", riskd.base, "rk_REPLACE_WITH_DECIDE_KEY", apiKey,
		"file:///etc/config/kratos/", "file://"+abs("kratos")+"/").Replace(string(fragment))
	if strings.Count(riskdCfg, riskd.base+"/v1/adapters/kratos/") != 4 || strings.Contains(riskdCfg, "REPLACE") {
		t.Fatalf("the fragment's placeholders changed:\n%s", riskdCfg)
	}
	basePath, riskdPath := filepath.Join(dir, "kratos.yml"), filepath.Join(dir, "kratos.riskd.yml")
	for p, c := range map[string]string{basePath: baseCfg, riskdPath: riskdCfg} {
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--dev", "-c", basePath, "-c", riskdPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SQA_OPT_OUT=true", "DEV_DISABLE_API_FLOW_ENFORCEMENT=true")
	var logs testenv.Output
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("Kratos's log:\n%s", logs.String())
		}
	})
	k := &kratos{public: "http://127.0.0.1:" + publicPort, admin: "http://127.0.0.1:" + adminPort, client: &http.Client{Timeout: 30 * time.Second}}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(k.admin + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return k
			}
		}
		select {
		case <-exited:
			t.Fatalf("Kratos exited:\n%s", logs.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("Kratos was not ready within 2 minutes:\n%s", logs.String())
		}
	}
}

// flowResult is Kratos's answer to a flow's submission.
type flowResult struct {
	status int
	raw    []byte
}

func (r flowResult) token() string {
	var out struct {
		SessionToken string `json:"session_token"`
	}
	json.Unmarshal(r.raw, &out)
	return out.SessionToken
}

// refusedByRiskd reports whether Kratos's answer carries riskd's deny message.
func refusedByRiskd(raw []byte) bool {
	return bytes.Contains(raw, []byte(`"id":`+strconv.Itoa(server.KratosMessageDenied)+`,"text":"This sign-in was refused`))
}

// submit creates an API flow of kind (login, registration) as a client at ip, with the session token when
// given (a login at aal2), and submits body. A flow refused at its creation (a before hook) is the result.
func (k *kratos) submit(t *testing.T, kind, ip, token string, body map[string]any) flowResult {
	t.Helper()
	return k.submitFrom(t, kind, ip, ip, token, body)
}

// submitFrom is submit with the flow created from one address and submitted from another.
func (k *kratos) submitFrom(t *testing.T, kind, ipStart, ipSubmit, token string, body map[string]any) flowResult {
	t.Helper()
	// The application's first-party device cookie, which riskd.jsonnet sends as device_id.
	hdr := map[string]string{"True-Client-Ip": ipStart, "Accept": "application/json", "User-Agent": "riskd-e2e/1 (Kratos API flow)",
		"Cookie": "riskd_device=e2e-device-5f0c2a9b"}
	if token != "" {
		hdr["X-Session-Token"] = token
	}
	url := k.public + "/self-service/" + kind + "/api"
	if token != "" && kind == "login" {
		url += "?aal=aal2"
	}
	status, raw := send(t, http.MethodGet, url, nil, hdr)
	if status != http.StatusOK {
		return flowResult{status, raw}
	}
	var flow struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &flow); err != nil || flow.ID == "" {
		t.Fatalf("%s flow: %s", kind, raw)
	}
	hdr["Content-Type"] = "application/json"
	hdr["True-Client-Ip"] = ipSubmit
	b, _ := json.Marshal(body)
	status, raw = send(t, http.MethodPost, k.public+"/self-service/"+kind+"?flow="+flow.ID, b, hdr)
	return flowResult{status, raw}
}

func (k *kratos) whoami(t *testing.T, token string) []byte {
	t.Helper()
	status, raw := send(t, http.MethodGet, k.public+"/sessions/whoami", nil, map[string]string{"X-Session-Token": token})
	if status != http.StatusOK {
		t.Fatalf("whoami: %d %s", status, raw)
	}
	return raw
}

// enrolTOTP sets up TOTP through the settings flow and returns the secret.
func (k *kratos) enrolTOTP(t *testing.T, token string) string {
	t.Helper()
	hdr := map[string]string{"X-Session-Token": token, "True-Client-Ip": ipClean, "Accept": "application/json"}
	status, raw := send(t, http.MethodGet, k.public+"/self-service/settings/api", nil, hdr)
	if status != http.StatusOK {
		t.Fatalf("settings flow: %d %s", status, raw)
	}
	var flow struct {
		ID string `json:"id"`
		UI struct {
			Nodes []struct {
				Attributes struct {
					ID   string `json:"id"`
					Text struct {
						Text string `json:"text"`
					} `json:"text"`
				} `json:"attributes"`
			} `json:"nodes"`
		} `json:"ui"`
	}
	if err := json.Unmarshal(raw, &flow); err != nil {
		t.Fatal(err)
	}
	var secret string
	for _, n := range flow.UI.Nodes {
		if n.Attributes.ID == "totp_secret_key" {
			secret = n.Attributes.Text.Text
		}
	}
	if secret == "" {
		t.Fatalf("no TOTP secret in the settings flow: %s", raw)
	}
	hdr["Content-Type"] = "application/json"
	b, _ := json.Marshal(map[string]any{"method": "totp", "totp_code": totp(t, secret, time.Now())})
	if status, raw := send(t, http.MethodPost, k.public+"/self-service/settings?flow="+flow.ID, b, hdr); status != http.StatusOK {
		t.Fatalf("enrolling TOTP: %d %s", status, raw)
	}
	return secret
}

func aalOf(t *testing.T, whoami []byte) string {
	t.Helper()
	var s struct {
		AAL string `json:"authenticator_assurance_level"`
	}
	if err := json.Unmarshal(whoami, &s); err != nil {
		t.Fatal(err)
	}
	return s.AAL
}

// totp is RFC 6238's code (SHA-1, 30 s, 6 digits), as authenticator apps and Kratos compute it.
func totp(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil {
		t.Fatalf("TOTP secret %q: %v", secret, err)
	}
	var counter [8]byte
	binary.BigEndian.PutUint64(counter[:], uint64(at.Unix()/30))
	mac := hmac.New(sha1.New, key)
	mac.Write(counter[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", code%1_000_000)
}

func send(t *testing.T, method, url string, body []byte, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
