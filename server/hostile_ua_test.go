package server_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features/useragent"
)

// TestRotatingUserAgentsAreBotsOnFirstSight: over HTTP, against the background user-agent parser riskd serve
// uses, a bot that sends a new user agent on every login is flagged (ua_is_bot, automation_client) on every one,
// though none was ever parsed, while a real browser's new user agent is not.
func TestRotatingUserAgentsAreBotsOnFirstSight(t *testing.T) {
	ts := startWith(t, nil, func(c *engine.Config) {
		c.Extractor.SetUserAgents(useragent.NewBackground(0, 1)) // a parse a second: every answer here is first-sight
	})
	templates := []string{
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) %d",
		"python-requests/2.31.%d",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/%d.0.0.0 Safari/537.36",
		"Mozilla/5.0 %d",
		"zq%dplmnbvcxz",
	}
	for i := range 20 {
		for _, tmpl := range templates {
			ua := strings.Replace(tmpl, "%d", strconv.Itoa(100+i), 1)
			status, m := ts.post("/v1/decide?explain=1", map[string]any{"type": "login", "user_id": "rot-" + strconv.Itoa(i),
				"ip": ipClean, "user_agent": ua, "credentials_valid": true})
			if status != 200 {
				t.Fatalf("%q: status %d %v", ua, status, m)
			}
			f := m["features"].(map[string]any)
			if d := toDecision(t, m); f["ua_is_bot"] != true || f["ua_device_class"] != "bot" || !d.has("automation_client") {
				t.Fatalf("%q on first sight: ua_is_bot=%v class=%v reasons %v, want a bot", ua, f["ua_is_bot"], f["ua_device_class"], d.Codes)
			}
		}
	}
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	status, m := ts.post("/v1/decide?explain=1", map[string]any{"type": "login", "user_id": "rot-person", "ip": ipClean,
		"user_agent": chrome, "credentials_valid": true})
	if f := m["features"].(map[string]any); status != 200 || f["ua_is_bot"] != false || f["ua_device_class"] != "unknown" {
		t.Fatalf("a browser's new user agent: %d ua_is_bot=%v class=%v", status, f["ua_is_bot"], f["ua_device_class"])
	}
}
