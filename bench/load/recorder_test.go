package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestRecorderAttribution(t *testing.T) {
	p := Profile{Name: "two", Phases: []Phase{
		{Name: "a", Duration: time.Second, From: 10, To: 10},
		{Name: "b", Duration: time.Second, From: 10, To: 10},
	}}
	rec := newRecorder(p, time.Millisecond, time.Second)
	ms := time.Millisecond
	// Scheduled in phase a, answered in phase b: its latency belongs to a, its throughput to b.
	rec.Offered(900 * ms)
	rec.Done(900*ms, 900*ms, 1200*ms, accepted)
	// Sent 5 ms late: late, and its latency counts from the schedule.
	rec.Offered(100 * ms)
	rec.Done(100*ms, 105*ms, 106*ms, accepted)
	rec.Offered(200 * ms)
	rec.Done(200*ms, 200*ms, 201*ms, shed)
	rec.Offered(300 * ms)
	rec.Done(300*ms, 300*ms, 1300*ms, timedOut)
	rec.Offered(400 * ms)
	rec.Done(400*ms, 1500*ms, 1500*ms, expired)
	rec.Offered(500 * ms)
	rec.Dropped(500 * ms)
	rec.Hiccup(1500*ms, 7*ms)

	res := summarize("t", p, rec, nil, 2*time.Second)
	a, b := res.Phases[0], res.Phases[1]
	if a.Offered != 6 || a.Accepted != 2 || a.Shed != 1 || a.Errors != 2 || a.Timeouts != 2 || a.Dropped != 1 || a.Late != 1 {
		t.Errorf("phase a: %+v", a)
	}
	if a.Answered != 1 || b.Answered != 1 {
		t.Errorf("throughput by arrival: a %d, b %d; want 1 and 1", a.Answered, b.Answered)
	}
	if a.Max != 300*ms || a.P50 < 6*ms || a.P50 > 7*ms {
		t.Errorf("phase a latencies: p50 %v max %v; want 6ms (from the schedule, not the send) and 300ms", a.P50, a.Max)
	}
	if b.Stalls != 1 || b.MaxStall != 7*ms {
		t.Errorf("phase b stalls %d, max %v", b.Stalls, b.MaxStall)
	}
	if res.Total.Offered != 6 || res.Total.Errors != 2 {
		t.Errorf("total %+v", res.Total)
	}
	if len(res.Seconds) != 2 || res.Seconds[0].Offered != 6 || res.Seconds[0].Accepted != 1 || res.Seconds[1].Accepted != 1 || res.Seconds[1].Errors != 2 {
		t.Errorf("seconds %+v", res.Seconds)
	}
}

func TestRecorderKeepsFewFailureMessages(t *testing.T) {
	rec := newRecorder(steadyProfile(1, time.Second), time.Millisecond, 0)
	for i := range 100 {
		rec.Failed(fmt.Sprint("error ", i%20))
		rec.Failed("error 3")
	}
	f := rec.Failures()
	if len(f) != maxFailureKinds || !strings.HasPrefix(f[0], "105× error 3") {
		t.Errorf("failures %q: want %d kinds, the most frequent first", f, maxFailureKinds)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		err    error
		want   outcome
	}{
		{200, `{"decision":"allow"}`, nil, accepted},
		{200, `{"decision":"allow","reasons":[{"code":"fail_policy"}]}`, nil, shed},
		{503, ``, nil, shed},
		{429, ``, nil, shed},
		{400, `{"error":{}}`, nil, badStatus},
		{500, ``, nil, badStatus},
		{0, ``, fasthttp.ErrTimeout, timedOut},
		{0, ``, fmt.Errorf("read: %w", os.ErrDeadlineExceeded), timedOut},
		{0, ``, errors.New("connection refused"), transport},
	} {
		if got := classify(c.status, []byte(c.body), c.err); got != c.want {
			t.Errorf("classify(%d, %s, %v) = %d, want %d", c.status, c.body, c.err, got, c.want)
		}
	}
}

func TestParseTarget(t *testing.T) {
	addr, path, err := parseTarget("http://127.0.0.1:8080/v1/decide")
	if err != nil || addr != "127.0.0.1:8080" || path != "/v1/decide" {
		t.Errorf("parseTarget = %s %s %v", addr, path, err)
	}
	if addr, path, err = parseTarget("http://localhost:9"); err != nil || addr != "localhost:9" || path != "/v1/decide" {
		t.Errorf("parseTarget without a path = %s %s %v", addr, path, err)
	}
	for _, bad := range []string{"http://10.0.0.1:8080/v1/decide", "https://127.0.0.1/", "127.0.0.1:8080", "http://example.com/"} {
		if _, _, err := parseTarget(bad); err == nil {
			t.Errorf("parseTarget(%q) accepted: the generator loads only loopback servers", bad)
		}
	}
}

func TestFormatting(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "–", 84 * time.Microsecond: "0.084", 1234 * time.Microsecond: "1.23",
		12345 * time.Microsecond: "12.3", 1234 * time.Millisecond: "1234"} {
		if got := ms(d); got != want {
			t.Errorf("ms(%v) = %s, want %s", d, got, want)
		}
	}
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %s, want %s", n, got, want)
		}
	}
}
