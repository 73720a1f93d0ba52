package useragent

import (
	"bufio"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/testenv"
)

// rotatingBots are the families of user agents a bot rotates through to look new on every request: each
// template's %d is replaced by a counter, so no two requests send the same user agent.
var rotatingBots = []string{
	"python-requests/2.31.%d",
	"curl/8.%d.0",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) %d",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/%d.0.0.0 Safari/537.36",
	"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) r%d",
	"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots) %d",
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.%d; +https://openai.com/gptbot)",
	"Scrapy/2.%d (+https://scrapy.org)",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Selenium/%d",
	"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html) %d",
	"facebookexternalhit/1.%d (+http://www.facebook.com/externalhit_uatext.php)",
	"Mozilla/5.0 (compatible; AhrefsBot/7.%d; +http://ahrefs.com/robot/)",
	"node-fetch/1.%d (+https://github.com/bitinn/node-fetch)",
	"Apache-HttpClient/4.5.%d (Java/17.0.8)",
	"Java/17.0.%d",
	"aiohttp/3.9.%d",
	"libwww-perl/6.%d",
	"Mozilla/5.0 %d",         // claims Mozilla, says nothing of a platform
	"x%d",                    // too short to be anyone's browser or app
	"zq%dplmnbvcxzasdfghjkl", // random letters: no product, no version, no platform
	"Mozilla/5.0 (compatible; crawler %d)",
	"Mozilla/5.0 (compatible; MJ12bot/v1.4.%d; http://mj12bot.com/)",
	"Mozilla/5.0 (Linux; Android 10) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com) %d",
}

// TestRotatingBotsAreBotsOnFirstSight: a bot that sends a never-seen user agent on every request must be told
// a bot at once, not only once the background parser, at its bounded rate, gets to each agent.
func TestRotatingBotsAreBotsOnFirstSight(t *testing.T) {
	p := NewBackground(0, 1) // one parse a second: every answer below is the first-sight one
	for _, tmpl := range rotatingBots {
		missed := 0
		for i := range 200 {
			ua := strings.Replace(tmpl, "%d", strconv.Itoa(1000+i), 1)
			if got := p.Lookup(ua); !got.IsBot || got.DeviceClass != Bot {
				missed++
			}
		}
		if missed > 0 {
			t.Errorf("%q: %d of 200 rotations not a bot on first sight", tmpl, missed)
		}
	}
}

// TestFirstSightSparesRealBrowsers: the first-sight check never calls a real browser a bot: every user agent
// of the real-traffic sample, and the people in the shared test corpus, pass it.
func TestFirstSightSparesRealBrowsers(t *testing.T) {
	f, err := os.Open(testenv.Shared(t, "ua/real-user-agents.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 5 || c[0] == "weight" {
			continue
		}
		n++
		if obviousBot(c[4]) {
			t.Errorf("%q: a bot on first sight, want a browser", c[4])
		}
	}
	if n < 5000 {
		t.Fatalf("read %d user agents, want the whole sample", n)
	}
	for _, tc := range humanAgents {
		if obviousBot(tc.ua) {
			t.Errorf("%q: a bot on first sight", tc.ua)
		}
	}
}

// TestRotationFloodKeepsRealAgentsCached: a flood of user agents each sent once or twice, far more than the
// cache holds, leaves the parsed answers of the user agents real users keep sending in place.
func TestRotationFloodKeepsRealAgentsCached(t *testing.T) {
	p := NewBackground(0, 1000)
	p.uap = parser().uap
	p.once.Do(func() {})
	s := loadRealSample(t)
	real := s.uas[:100]
	deadline := time.Now().Add(30 * time.Second)
	for parsed := 0; parsed < len(real); {
		parsed = 0
		for _, ua := range real {
			p.Lookup(ua)
			if e := p.cached(ua); e != nil && !e.pending {
				parsed++
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d real user agents parsed in 30 s", parsed, len(real))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for round := range 4 {
		for i := range 2 * DefaultCacheSize {
			ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0." +
				strconv.Itoa(round*1_000_000+i) + " Safari/537.36"
			p.Lookup(ua)
			if round%2 == 1 {
				p.Lookup(ua) // sent twice: past the doorkeeper
			}
			if i%64 == 0 {
				p.Lookup(real[i%len(real)]) // real users keep coming meanwhile
			}
		}
	}
	lost := 0
	for _, ua := range real {
		if e := p.cached(ua); e == nil || e.pending {
			lost++
		}
	}
	if lost > len(real)/100 {
		t.Errorf("%d of %d real user agents lost their parsed answer to the flood", lost, len(real))
	}
}

// realSample is the real-traffic sample: user agents and the share of traffic each stands for.
type realSample struct {
	uas []string
	cum []float64 // cumulative weights, for drawing by weight
}

func loadRealSample(tb testing.TB) realSample {
	tb.Helper()
	f, err := os.Open(testenv.Shared(tb, "ua/real-user-agents.tsv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	type row struct {
		w  float64
		ua string
	}
	var rows []row
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		w, err := strconv.ParseFloat(c[0], 64)
		if len(c) != 5 || err != nil {
			continue
		}
		rows = append(rows, row{w, c[4]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].w > rows[j].w })
	var s realSample
	total := 0.0
	for _, r := range rows {
		total += r.w
		s.uas = append(s.uas, r.ua)
		s.cum = append(s.cum, total)
	}
	return s
}
