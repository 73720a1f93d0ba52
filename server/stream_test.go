package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/internal/contracttest"
	"github.com/riskd/riskd/livestream"
	"github.com/riskd/riskd/server"
)

// startStreaming starts a server as startWith does, with the engine's stream configured by stream, and returns
// the engine too, for tests that decide in process.
func startStreaming(t *testing.T, stream livestream.Config, configure func(*server.Config)) (*testServer, *engine.Engine) {
	t.Helper()
	var eng *engine.Engine
	ts := startWith(t, func(c *server.Config) {
		eng = c.Engine
		if configure != nil {
			configure(c)
		}
	}, func(c *engine.Config) { c.Stream = stream })
	return ts, eng
}

// sseEvent is one event of a stream: its type and data, and the comment lines before it.
type sseEvent struct {
	event, data string
	comments    []string
}

// viewer is one client of the decision stream, over a connection of its own.
type viewer struct {
	t    *testing.T
	conn net.Conn
	resp *http.Response
	r    *bufio.Reader
}

// openStream sends GET /v1/decisions/stream?query with bearer (none when empty) and reads the answer's head.
// A 200 stream's first message (the opening comment) is read, so the viewer is subscribed when it returns.
func openStream(t *testing.T, base, query, bearer string) *viewer {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "GET /v1/decisions/stream?" + query + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
	if bearer != "" {
		req += "Authorization: Bearer " + bearer + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	v := &viewer{t: t, conn: conn, resp: resp, r: bufio.NewReaderSize(resp.Body, 64<<10)}
	if resp.StatusCode == http.StatusOK {
		if e := v.next(); len(e.comments) == 0 || e.comments[0] != "riskd decision stream" {
			t.Fatalf("the stream opens with %+v", e)
		}
	}
	return v
}

// next reads the next event (or block of comments), failing after 5 s.
func (v *viewer) next() sseEvent {
	v.t.Helper()
	v.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var e sseEvent
	for {
		line, err := v.r.ReadString('\n')
		if err != nil {
			v.t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			return e
		case strings.HasPrefix(line, ": "):
			e.comments = append(e.comments, line[2:])
		case strings.HasPrefix(line, "event: "):
			e.event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			e.data = line[len("data: "):]
		case strings.HasPrefix(line, "retry: "):
		default:
			v.t.Fatalf("not an event stream line: %q", line)
		}
	}
}

// nextDecision reads up to the next decision event and returns its data, checked against the contract.
func (v *viewer) nextDecision() map[string]any {
	v.t.Helper()
	for {
		e := v.next()
		if e.event != "decision" {
			continue
		}
		c, err := contracttest.Load()
		if err != nil {
			v.t.Fatal(err)
		}
		if err := c.ValidateSchema("StreamDecision", []byte(e.data)); err != nil {
			v.t.Fatalf("a stream decision does not match the contract: %v\n%s", err, e.data)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(e.data), &m); err != nil {
			v.t.Fatal(err)
		}
		return m
	}
}

func decideJSON(ts *testServer, user, ip, tenant string) map[string]any {
	ts.t.Helper()
	ev := login(user, ip, user+"-laptop", base())
	ev["tenant"] = tenant
	body, _ := json.Marshal(ev)
	status, m := ts.do("POST", "/v1/decide", "application/json", body)
	if status != 200 {
		ts.t.Fatalf("decide: %d %v", status, m)
	}
	return m
}

// TestStreamShowsEachDecisionWithItsExplanation: a viewer sees a decision made after it connected, with the
// answer /v1/decide gave, who and where, the whole feature vector and every rule's result.
func TestStreamShowsEachDecisionWithItsExplanation(t *testing.T) {
	ts, eng := startStreaming(t, livestream.Config{}, nil)
	v := openStream(t, ts.base, "", "")
	if ct := v.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	if cc := v.resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("cache control %q", cc)
	}
	answer := decideJSON(ts, "sam", ipTor, "brand-a")
	got := v.nextDecision()
	for _, k := range []string{"evaluation_id", "decision", "score", "rules_version"} {
		if fmt.Sprint(got[k]) != fmt.Sprint(answer[k]) {
			t.Errorf("%s: stream %v, answer %v", k, got[k], answer[k])
		}
	}
	if got["tenant"] != "brand-a" || got["event"] != "login" || got["ip"] != ipTor || got["user"] == "sam" || len(got["user"].(string)) != 16 {
		t.Errorf("who and where: %v %v %v %v", got["tenant"], got["event"], got["ip"], got["user"])
	}
	reasons := answer["reasons"].([]any)
	streamed := got["reasons"].([]any)
	if len(reasons) == 0 || len(streamed) != len(reasons) {
		t.Fatalf("reasons: stream %v, answer %v", streamed, reasons)
	}
	fired := map[string]bool{}
	for i, r := range reasons {
		r, s := r.(map[string]any), streamed[i].(map[string]any)
		if r["code"] != s["code"] || r["rule"] != s["rule"] || r["score"] != s["score"] {
			t.Errorf("reason %d: stream %v, answer %v", i, s, r)
		}
		fired[r["rule"].(string)] = true
	}
	rs := got["rules"].([]any)
	if len(rs) != len(eng.Rules().Rules) {
		t.Fatalf("%d rules, the set has %d", len(rs), len(eng.Rules().Rules))
	}
	for _, r := range rs {
		r := r.(map[string]any)
		if fired[r["name"].(string)] && r["fired"] != true {
			t.Errorf("rule %v gave a reason but is not fired: %v", r["name"], r)
		}
	}
	if f := got["features"].(map[string]any); f["is_tor"] != true || f["tenant"] != "brand-a" {
		t.Errorf("features %v", f)
	}
}

// TestStreamFilters: each viewer sees only the decisions that pass every filter it set.
func TestStreamFilters(t *testing.T) {
	ts, _ := startStreaming(t, livestream.Config{}, nil)
	probe := decideJSON(ts, "pia", ipTor, "brand-a")
	rule := probe["reasons"].([]any)[0].(map[string]any)["rule"].(string)
	decision := probe["decision"].(string)

	byTenant := openStream(t, ts.base, "tenant=brand-b", "")
	byRule := openStream(t, ts.base, "rule="+rule+"&tenant=brand-a&event=login&decision="+decision, "")
	other := "allow"
	if decision == "allow" {
		other = "deny"
	}
	none := openStream(t, ts.base, "decision="+other+"&tenant=brand-c", "")
	empty := openStream(t, ts.base, "decision=&rule=&tenant=&event=", "") // empty values filter nothing

	a := decideJSON(ts, "pia", ipTor, "brand-a")   // the rule fires
	b := decideJSON(ts, "pia", ipTor, "brand-b")   // another tenant
	c := decideJSON(ts, "ola", ipClean, "brand-a") // no rule fires

	if got := byTenant.nextDecision(); got["evaluation_id"] != b["evaluation_id"] {
		t.Fatalf("tenant=brand-b saw %v, want %v", got["evaluation_id"], b["evaluation_id"])
	}
	if got := byRule.nextDecision(); got["evaluation_id"] != a["evaluation_id"] {
		t.Fatalf("rule=%s saw %v, want %v", rule, got["evaluation_id"], a["evaluation_id"])
	}
	for _, want := range []any{a["evaluation_id"], b["evaluation_id"], c["evaluation_id"]} {
		if got := empty.nextDecision(); got["evaluation_id"] != want {
			t.Fatalf("the unfiltered viewer saw %v, want %v", got["evaluation_id"], want)
		}
	}
	// What each filtered viewer must not see has been fanned out by now (the unfiltered one saw all three);
	// a marker decision each of them does see shows nothing came before it.
	marker := decideJSON(ts, "pia", ipTor, "brand-b")
	if got := byTenant.nextDecision(); got["evaluation_id"] != marker["evaluation_id"] {
		t.Fatalf("tenant=brand-b saw %v before the marker", got["evaluation_id"])
	}
	none.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if line, err := none.r.ReadString('\n'); err == nil {
		t.Fatalf("a viewer whose filters match nothing received %q", line)
	}
}

// TestStalledViewerDoesNotHoldDecisions: a viewer that never reads fills its connection and its queue; the
// decisions go on at full speed meanwhile, its losses are counted, and when it reads again it is told how
// many it lost.
func TestStalledViewerDoesNotHoldDecisions(t *testing.T) {
	ts, eng := startStreaming(t, livestream.Config{QueueLen: 8, MaxRate: 1 << 20, Tick: time.Millisecond}, nil)
	ev := features.Event{Type: features.Login, UserID: "lee", IP: netip.MustParseAddr(ipMilton), DeviceID: "lee-laptop",
		Tenant: "default", HasCredentials: true, CredentialsValid: true}
	var d engine.Decision
	decide := func(n int) time.Duration {
		start := time.Now()
		for range n {
			e := ev
			if err := eng.Decide(&e, &d); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start) / time.Duration(n)
	}
	alone := decide(5000)

	stalled := openStream(t, ts.base, "", "")
	stalled.conn.(*net.TCPConn).SetReadBuffer(4096)
	// Enough decisions to fill the socket's buffers many times over (each event is several KiB).
	deadline := time.Now().Add(20 * time.Second)
	var watched time.Duration
	for eng.Stream().Dropped() < 1000 {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled viewer lost only %d messages", eng.Stream().Dropped())
		}
		watched = decide(5000)
	}
	t.Logf("per decision: %v without a viewer, %v with a stalled one (%d messages dropped)", alone, watched, eng.Stream().Dropped())

	// The viewer reads again: it gets what was buffered, then learns how many it lost.
	var told uint64
	for told == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the viewer was never told of its losses")
		}
		decide(1)
		e := stalled.next()
		for _, c := range e.comments {
			if n, ok := strings.CutPrefix(c, "dropped "); ok {
				told, _ = strconv.ParseUint(n, 10, 64)
			}
		}
		if e.event == "dropped" && told == 0 {
			t.Fatalf("a dropped event without its comment: %+v", e)
		}
	}
	if told == 0 || told > eng.Stream().Dropped() {
		t.Fatalf("told of %d lost, the hub counted %d", told, eng.Stream().Dropped())
	}
	raw := ts.metricsText()
	if !strings.Contains(raw, "riskd_stream_dropped_total ") || strings.Contains(raw, "riskd_stream_dropped_total 0\n") {
		t.Fatalf("metrics:\n%s", grepLines(raw, "riskd_stream"))
	}
}

// TestViewerThatLeavesIsRemovedAtOnce: a client that closes its connection is no longer a viewer within
// moments, long before a keep-alive would have found out; the decisions then stop being copied.
func TestViewerThatLeavesIsRemovedAtOnce(t *testing.T) {
	ts, eng := startStreaming(t, livestream.Config{}, nil)
	v := openStream(t, ts.base, "", "")
	if !eng.Stream().Active() {
		t.Fatal("no viewer after the stream opened")
	}
	v.conn.Close()
	deadline := time.Now().Add(2 * time.Second)
	for eng.Stream().Viewers() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the viewer that left is still counted after 2 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStreamKeepAlive: an idle stream sends a comment every StreamKeepAlive.
func TestStreamKeepAlive(t *testing.T) {
	ts, _ := startStreaming(t, livestream.Config{}, func(c *server.Config) { c.StreamKeepAlive = 50 * time.Millisecond })
	v := openStream(t, ts.base, "", "")
	if e := v.next(); len(e.comments) != 1 || e.comments[0] != "keep-alive" || e.event != "" {
		t.Fatalf("an idle stream sent %+v", e)
	}
}

// TestShutdownEndsStreams: a server with viewers connected shuts down promptly, ending their streams.
func TestShutdownEndsStreams(t *testing.T) {
	reg := metrics.NewSet()
	srv, err := server.New(server.Config{Engine: enginetest.New(t, reg), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	base := "http://" + serveOn(t, srv.Serve, done)
	v := openStream(t, base, "", "")
	start := time.Now()
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-done
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("shutdown took %v with a viewer connected", took)
	}
	v.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		if _, err := v.r.ReadString('\n'); err != nil {
			break // the stream ended
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
