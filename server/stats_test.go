package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/contracttest"
)

// serveLoopback serves s on a loopback port until the test ends and returns a client that checks every exchange
// against the contract, and the base URL.
func serveLoopback(t *testing.T, s *Server) (*http.Client, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Shutdown(t.Context())
		<-done
	})
	return &http.Client{Transport: contracttest.Transport(t, nil)}, "http://" + ln.Addr().String()
}

func getJSON(t *testing.T, c *http.Client, url string, into any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, into); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
}

// TestStatsSeries: each tick closes an interval: the decisions by action, the shed requests and the latency
// quantiles counted since the previous one; the top rules add up the last hour's intervals; the instance lists
// itself with the rule set it serves. The series keeps an hour (360 intervals), oldest first.
func TestStatsSeries(t *testing.T) {
	s := newTestServer(t)
	s.stopOverview() // the test ticks by hand
	client, base := serveLoopback(t, s)
	decide := func(user, ip string) string {
		body := fmt.Sprintf(`{"type":"login","user_id":%q,"ip":%q,"device_id":"d-%s","credentials_valid":true}`, user, ip, user)
		resp, err := client.Post(base+"/v1/decide", "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var d struct {
			Decision string
			Reasons  []struct{ Rule string }
		}
		json.NewDecoder(resp.Body).Decode(&d)
		if len(d.Reasons) > 0 {
			return d.Reasons[0].Rule
		}
		return ""
	}
	for i := range 5 {
		decide(fmt.Sprint("clean-", i), "89.160.20.112")
	}
	torRule := ""
	for i := range 3 {
		torRule = decide(fmt.Sprint("tor-", i), "65.0.0.1")
	}
	if torRule == "" {
		t.Fatal("a Tor exit fired no rule")
	}
	s.shed.Add(2) // as two refusals under overload would
	t0 := time.Unix(1_800_000_000, 0)
	s.tickOverview(t0)
	decide("late", "89.160.20.112")
	s.tickOverview(t0.Add(statsInterval))

	var got struct {
		IntervalS int `json:"interval_s"`
		Series    []struct {
			T                 int64
			Allow, Deny, Shed uint64
			StepUp            uint64  `json:"step_up"`
			P50               float64 `json:"p50_us"`
			P99               float64 `json:"p99_us"`
		}
		TopRules []struct {
			Rule  string
			Fired uint64
		} `json:"top_rules"`
		Instances []struct {
			ID              string
			RulesVersion    string            `json:"rules_version"`
			ControlVersions map[string]uint64 `json:"control_versions"`
			Seen            time.Time
		}
	}
	getJSON(t, client, base+"/v1/stats", &got)
	if got.IntervalS != 10 || len(got.Series) != 2 {
		t.Fatalf("stats %+v", got)
	}
	first, second := got.Series[0], got.Series[1]
	if first.T != t0.Unix() || first.Allow+first.StepUp+first.Deny != 8 || first.Shed != 2 || first.StepUp+first.Deny == 0 {
		t.Fatalf("first interval %+v", first)
	}
	if first.P50 <= 0 || first.P99 < first.P50 || math.IsNaN(first.P99) {
		t.Fatalf("first interval's latency p50 %v p99 %v", first.P50, first.P99)
	}
	if second.T != t0.Add(statsInterval).Unix() || second.Allow+second.StepUp+second.Deny != 1 || second.Shed != 0 {
		t.Fatalf("second interval %+v", second)
	}
	found := false
	for _, r := range got.TopRules {
		found = found || (r.Rule == torRule && r.Fired >= 3)
	}
	if !found || len(got.TopRules) > statsTopRules {
		t.Fatalf("top rules %+v, want %s at least 3 times", got.TopRules, torRule)
	}
	if len(got.Instances) != 1 || got.Instances[0].RulesVersion != s.engine.Rules().Version || got.Instances[0].ID == "" ||
		time.Since(got.Instances[0].Seen) > time.Minute {
		t.Fatalf("instances %+v", got.Instances)
	}

	// An hour of ticks later, the series holds the newest hour.
	for i := range statsPoints + 5 {
		s.tickOverview(t0.Add(time.Duration(i+2) * statsInterval))
	}
	getJSON(t, client, base+"/v1/stats", &got)
	if len(got.Series) != statsPoints || got.Series[0].T != t0.Add(7*statsInterval).Unix() ||
		got.Series[statsPoints-1].T != t0.Add(time.Duration(statsPoints+6)*statsInterval).Unix() || len(got.TopRules) != 0 {
		t.Fatalf("after an hour: %d points from %d to %d, top rules %v", len(got.Series), got.Series[0].T, got.Series[len(got.Series)-1].T, got.TopRules)
	}
}

// TestQuantileUs: the estimate interpolates within the bucket holding the rank.
func TestQuantileUs(t *testing.T) {
	bounds := []float64{1e-6, 10e-6, 100e-6}
	cases := []struct {
		counts []uint64
		q      float64
		want   float64
	}{
		{[]uint64{0, 0, 0, 0}, 0.5, 0},
		{[]uint64{0, 10, 0, 0}, 0.5, 5.5},      // half way through 1-10 µs
		{[]uint64{10, 0, 0, 0}, 0.99, 0.99},    // 0-1 µs
		{[]uint64{50, 0, 50, 0}, 0.99, 98.2},   // high in 10-100 µs
		{[]uint64{0, 0, 0, 7}, 0.5, 100},       // beyond the last bound: the bound
		{[]uint64{99, 0, 0, 1}, 0.99, 0.99999}, // rank 98.01 of 99 in 0-1 µs
	}
	for _, c := range cases {
		if got := quantileUs(c.counts, bounds, c.q); math.Abs(got-c.want) > 0.01 {
			t.Errorf("quantile %v of %v: %v, want %v", c.q, c.counts, got, c.want)
		}
	}
}
