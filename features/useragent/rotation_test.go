package useragent

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

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
