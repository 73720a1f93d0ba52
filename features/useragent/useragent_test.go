package useragent

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/riskd/riskd/internal/testenv"
)

// parser is shared by the tests: compiling uap's regexes takes ~40 ms (much more under the race detector).
var parser = sync.OnceValue(func() *Parser { p := New(0); p.Warm(); return p })

// TestCorpus parses uap-core's test user agents through the parser and its cache and compares the browser
// family with the one each must parse to.
func TestCorpus(t *testing.T) {
	path := testenv.Shared(t, "ua/test_ua.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var corpus struct {
		TestCases []struct {
			UA     string `yaml:"user_agent_string"`
			Family string `yaml:"family"`
			Major  string `yaml:"major"`
		} `yaml:"test_cases"`
	}
	if err := yaml.Unmarshal(data, &corpus); err != nil {
		t.Fatal(err)
	}
	if len(corpus.TestCases) < 1000 {
		t.Fatalf("%d test cases, want the whole corpus", len(corpus.TestCases))
	}
	p := parser()
	miss := 0
	for _, tc := range corpus.TestCases {
		got := p.Lookup(tc.UA)
		if again := p.Lookup(tc.UA); *again != *got {
			t.Errorf("%q: second lookup %+v, first %+v", tc.UA, *again, *got)
		}
		// Our answer must be uap-go's, exactly: the cache and the bounds change nothing.
		ua := tc.UA[:min(len(tc.UA), MaxLen)]
		want := p.uap.ParseUserAgent(ua)
		major, _ := strconv.Atoi(want.Major)
		if got.Browser != want.Family || got.BrowserMajor != major {
			t.Errorf("%q: got %q %d, uap-go says %q %d", tc.UA, got.Browser, got.BrowserMajor, want.Family, major)
		}
		if got.Browser == tc.Family {
			continue
		}
		miss++
		if miss <= 3 {
			t.Logf("%q: got %q, the corpus wants %q", tc.UA, got.Browser, tc.Family)
		}
	}
	// uap-go v0.0.0-20260529044130 embeds older uap-core regexes than the corpus was written for: 134 of 1,601
	// (8.37%) parse to another family (e.g. Weibo, VivoBrowser and Baidu in-app browsers come out as the
	// WebView they run in; OculusBrowser's pattern changed). Every one of them is uap-go's own answer (checked
	// above), so the gap is the version skew, not the cache. The bound catches a regression; lower it to 1%
	// when uap-go's regexes catch up with the corpus.
	rate := float64(miss) / float64(len(corpus.TestCases))
	t.Logf("%d of %d user agents parse to another family than the corpus says (%.2f%%)", miss, len(corpus.TestCases), 100*rate)
	if rate > 0.09 {
		t.Errorf("mismatch rate %.2f%%, want at most 9%% (the known regex version skew)", 100*rate)
	}
}

// Real user agents of automation tools, each as its tool sends it by default.
var botAgents = []string{
	// Puppeteer / Playwright Chromium, headless.
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.28 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.33 Safari/537.36",
	"Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
	"python-requests/2.31.0",
	"Python-urllib/3.11",
	"curl/8.5.0",
	"Wget/1.21.4",
	"Go-http-client/1.1",
	"Go-http-client/2.0",
	"okhttp/4.12.0",
	"Java/17.0.2",
	"Apache-HttpClient/4.5.14 (Java/17.0.8)",
	"axios/1.6.7",
	"Scrapy/2.11.0 (+https://scrapy.org)",
	// Crawlers uap's device regexes call Spider.
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
}

var humanAgents = []struct{ ua, class, browser string }{
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", Desktop, "Chrome"},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15", Desktop, "Safari"},
	{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", Desktop, "Firefox"},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", Mobile, "Mobile Safari"},
	{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", Mobile, "Chrome Mobile"},
	{"Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", Tablet, "Mobile Safari"},
	{"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", Tablet, "Chrome"},
	// An app on okhttp that names itself is not a script.
	{"MyBank/5.2.1 (Android 14) okhttp/4.12.0", Mobile, ""},
}

func TestBots(t *testing.T) {
	p := parser()
	for _, ua := range botAgents {
		if got := p.Lookup(ua); !got.IsBot || got.DeviceClass != Bot {
			t.Errorf("%q: %+v, want a bot", ua, *got)
		}
	}
	for _, tc := range humanAgents {
		got := p.Lookup(tc.ua)
		if got.IsBot || got.DeviceClass != tc.class || tc.browser != "" && got.Browser != tc.browser {
			t.Errorf("%q: %+v, want class %s, browser %q, not a bot", tc.ua, *got, tc.class, tc.browser)
		}
	}
}

// TestRealUserAgents checks the heaviest-weighted real browser user agents: none is a bot, and the device
// class agrees with the file's device_category for nearly all.
func TestRealUserAgents(t *testing.T) {
	f, err := os.Open(testenv.Shared(t, "ua/real-user-agents.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type row struct {
		weight    float64
		class, ua string
	}
	var rows []row
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		w, err := strconv.ParseFloat(c[0], 64)
		if len(c) != 5 || err != nil {
			continue // the header
		}
		rows = append(rows, row{w, c[1], c[4]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].weight > rows[j].weight })
	rows = rows[:min(len(rows), 1000)]
	p := parser()
	disagree := 0
	for _, r := range rows {
		got := p.Lookup(r.ua)
		if got.IsBot {
			t.Errorf("%q: a bot, want a browser (%+v)", r.ua, *got)
		}
		if got.DeviceClass != r.class {
			disagree++
			if disagree <= 5 {
				t.Logf("%q: class %s, the file says %s", r.ua, got.DeviceClass, r.class)
			}
		}
	}
	t.Logf("device class disagrees with device_category for %d of %d", disagree, len(rows))
	if disagree*100 > len(rows)*2 {
		t.Errorf("device class disagrees for %d of %d, want at most 2%%", disagree, len(rows))
	}
}

func TestEmptyAndNil(t *testing.T) {
	if got := parser().Lookup(""); *got != (Info{}) {
		t.Errorf("Lookup(\"\") = %+v, want empty", *got)
	}
	var p *Parser
	if got := p.Lookup("curl/8.0"); *got != (Info{}) {
		t.Errorf("nil parser: %+v, want empty", *got)
	}
}

// TestLongUserAgent: only the first MaxLen bytes count, and the entry keeps no more than them.
func TestLongUserAgent(t *testing.T) {
	p := New(16)
	base := humanAgents[0].ua
	long := base + strings.Repeat(" x", MaxLen)
	got := p.Lookup(long)
	if got.Browser != "Chrome" {
		t.Errorf("long user agent: %+v, want Chrome", *got)
	}
	e := p.cached(long[:MaxLen])
	if e == nil || len(e.ua) != MaxLen {
		t.Fatalf("long user agent cached as %v, want its first %d bytes", e, MaxLen)
	}
	if p.Lookup(long[:MaxLen+10]) != got {
		t.Error("a user agent with the same first MaxLen bytes missed the cache")
	}
}

// TestCollision: user agents that share a set never answer for each other; two of them live side by side,
// and a third replaces one of them only once it goes unused.
func TestCollision(t *testing.T) {
	p := New(1) // one set of two ways: every user agent collides
	p.uap = parser().uap
	p.once.Do(func() {})
	a, b, c := botAgents[0], humanAgents[0].ua, "curl/8.5.0"
	for range 3 {
		if got := p.Lookup(a); !got.IsBot || got.Browser != "HeadlessChrome" {
			t.Fatalf("%q: %+v", a, *got)
		}
		if got := p.Lookup(b); got.IsBot || got.Browser != "Chrome" {
			t.Fatalf("%q: %+v", b, *got)
		}
	}
	if p.cached(a) == nil || p.cached(b) == nil {
		t.Fatal("two user agents sharing a set should both stay cached")
	}
	// Both were used since the last newcomer: the third is answered but not cached, and both lose their mark.
	if got := p.Lookup(c); got.Browser != "curl" {
		t.Fatalf("%q: %+v", c, *got)
	}
	if p.cached(c) != nil || p.cached(a) == nil || p.cached(b) == nil {
		t.Fatal("a third user agent should not replace user agents in use")
	}
	// Unused since, one of them makes room for it.
	if got := p.Lookup(c); got.Browser != "curl" {
		t.Fatalf("%q: %+v", c, *got)
	}
	if p.cached(c) == nil || (p.cached(a) == nil) == (p.cached(b) == nil) {
		t.Error("a third user agent should replace exactly one of the two once they are not used")
	}
}

// TestCopiesUserAgent: the cache must not keep the caller's bytes, which may be a reused request buffer.
func TestCopiesUserAgent(t *testing.T) {
	p := New(16)
	p.uap = parser().uap
	p.once.Do(func() {})
	buf := []byte("curl/8.5.0")
	ua := string(buf) // stands for a string aliasing a pooled buffer
	p.Lookup(ua)
	e := p.cached("curl/8.5.0")
	if e == nil || e.ua != "curl/8.5.0" || !e.info.IsBot {
		t.Fatalf("cached %+v", e)
	}
	if p.Lookup("Wget/1.21") == nil || p.Lookup("curl/8.5.0").Browser != "curl" {
		t.Error("lost the cached answer")
	}
}

func TestConcurrent(t *testing.T) {
	p := New(4) // few slots: lookups race on them
	p.uap = parser().uap
	p.once.Do(func() {})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				tc := humanAgents[(g+i)%len(humanAgents)]
				if got := p.Lookup(tc.ua); got.DeviceClass != tc.class {
					t.Errorf("%q: %+v", tc.ua, *got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestBackgroundParserNeverParsesOnTheRequestPath: a new user agent is answered at once from the cheap checks
// and parsed in the background; the full answer follows.
func TestBackgroundParserNeverParsesOnTheRequestPath(t *testing.T) {
	p := NewBackground(0, 1000)
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	first := p.Lookup(chrome)
	if first.Browser != "" || first.IsBot || first.DeviceClass != Unknown {
		t.Fatalf("first sighting: %+v, want the cheap answer", *first)
	}
	if got := p.Lookup("curl/8.5.0"); !got.IsBot || got.DeviceClass != Bot {
		t.Fatalf("an automation marker is caught at once: %+v", *got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Lookup(chrome).Browser != "Chrome" {
		if time.Now().After(deadline) {
			t.Fatalf("never parsed: %+v", *p.Lookup(chrome))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.Lookup(chrome); got.BrowserMajor != 124 || got.DeviceClass != Desktop {
		t.Fatalf("full answer: %+v", *got)
	}
}

// TestBackgroundParserIsRateLimited: a flood of new user agents costs the background parser at most its rate.
func TestBackgroundParserIsRateLimited(t *testing.T) {
	p := NewBackground(1<<16, 50)
	p.Warm()
	start := time.Now()
	for i := range 5000 {
		ua := fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) Flood/%d", i)
		p.Lookup(ua)
		p.Lookup(ua) // the second sighting queues it
	}
	// 10,000 lookups take milliseconds (more under the race detector on a busy machine); one parse each would
	// take 5 s at least.
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("5000 new user agents seen twice took %v on the request path", took)
	}
	time.Sleep(300 * time.Millisecond)
	parsed := 0
	for i := range 5000 {
		if e := p.cached(fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) Flood/%d", i)); e != nil && !e.pending {
			parsed++
		}
	}
	if parsed > 50 {
		t.Fatalf("%d parsed in 0.3 s at 50 a second", parsed)
	}
}
