package useragent

import (
	"strings"
	"unsafe"
)

// The first-sight check. A request must never wait for uap's regexes (a millisecond), so a user agent not yet
// parsed is judged from its bytes alone: one lower-cased copy on the stack and a few substring searches, no
// allocation (BenchmarkObviousBot). It calls a bot only what no person's browser or app sends, and the full
// parse keeps its verdict (IsBot is uap's Spider or this), so an answer never turns from bot to person once
// the parse arrives. What it cannot see (a script sending a real browser's user agent) is for the other signals.

// minUserAgent is the shortest user agent a browser or an app sends ("MyApp/1.0" is 9 bytes; browsers send
// 60 and more). Shorter ones are typed by hand or generated.
const minUserAgent = 8

// libraryPrefixes start the default user agent of an HTTP library or command-line client. A person logging in
// uses a browser or an app, and an app built on such a library normally names itself first ("MyApp/2.1
// okhttp/4.9.0"), so only the library's own default, at the start, counts: that is a script. Every entry is a
// possible false positive for API clients, which rules can tell apart by channel.
var libraryPrefixes = []string{
	"curl/", "wget/", "python-requests/", "python-urllib/", "python-httpx/", "python/", "aiohttp/",
	"go-http-client/", "okhttp/", "java/", "apache-httpclient/", "axios/", "node-fetch/", "node/", "undici",
	"got/", "libwww-perl/", "scrapy/", "postmanruntime/", "insomnia/", "httpie/", "guzzlehttp/", "ruby",
	"php/", "powershell/", "reqwest/", "rest-client/", "faraday",
}

// botMarkers appear anywhere in the (lower-cased) user agent of a crawler, a headless or driven browser, a
// scanner or a monitor: tokens uap-core's Spider patterns name, the automation frameworks' own, and a URL,
// which crawlers give as a contact ("+http://www.google.com/bot.html") and browsers never send. Each was
// checked against the real-traffic sample (TestFirstSightSparesRealBrowsers): none occurs there.
var botMarkers = []string{
	"://", "crawl", "spider", "slurp", "scraper", "headless", "phantomjs", "slimerjs", "selenium", "webdriver",
	"puppeteer", "playwright", "python", "scrapy", "libwww", "httpclient", "http-client", "http_client",
	"winhttp", "facebookexternalhit", "fetcher", "feed", "monitor", "scanner", "zgrab", "masscan", "nmap",
	"nikto", "sqlmap", "archiver", "lighthouse", "pingdom", "statuscake", "ptst/", "datanyze", "wordpress",
	"whatsapp",
}

// botMarkerIndex finds any bot marker in one pass over a user agent (see markerIndex). Read only.
var botMarkerIndex = newMarkerIndex(botMarkers)

// obviousBot reports whether ua is plainly not a person's browser or app: too short; an HTTP library's
// default; a bot, crawler, headless-browser or tool token; a "Mozilla/" claim with no platform after it; or
// nothing a client writes (no product/version and no comment in parentheses).
func obviousBot(ua string) bool {
	if len(ua) < minUserAgent {
		return true
	}
	var buf [MaxLen]byte
	lc := lower(&buf, ua)
	for _, m := range libraryPrefixes {
		if strings.HasPrefix(lc, m) {
			return true
		}
	}
	if botMarkerIndex.in(lc) || botToken(lc) {
		return true
	}
	if strings.HasPrefix(lc, "mozilla/") {
		// Every browser follows Mozilla/5.0 with its platform in parentheses; scripts often stop at the word.
		return !strings.Contains(lc, "(")
	}
	return !strings.Contains(lc, "(") && !versioned(lc)
}

// markerIndex finds any of a fixed set of markers (lower case, two bytes or more) in one pass. A search per
// marker (strings.Contains) costs ~20 ns each, ~1 µs for the set over a browser's user agent; here a bit per
// byte pair that starts a marker rules out most positions with one load, and only the few positions left are
// compared with the markers starting with their byte.
type markerIndex struct {
	pairs   [1 << 16 / 64]uint64
	byFirst [256][]string
}

func newMarkerIndex(markers []string) *markerIndex {
	x := &markerIndex{}
	for _, m := range markers {
		k := uint16(m[0])<<8 | uint16(m[1])
		x.pairs[k>>6] |= 1 << (k & 63)
		x.byFirst[m[0]] = append(x.byFirst[m[0]], m)
	}
	return x
}

// in reports whether lc contains one of the markers.
func (x *markerIndex) in(lc string) bool {
	for i := 0; i+1 < len(lc); i++ {
		k := uint16(lc[i])<<8 | uint16(lc[i+1])
		if x.pairs[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		for _, m := range x.byFirst[lc[i]] {
			if strings.HasPrefix(lc[i:], m) {
				return true
			}
		}
	}
	return false
}

// botToken reports whether lc has a word ending in "bot" as a product or list item ("googlebot/2.1",
// "adsbot-google", "(compatible; petalbot;", "bot.html"): "bot" followed by one of / ; ) - . , or the end.
// A phone's model ("CUBOT X19", "CUBOT_NOTE") or a word going on ("botswana") is not one.
func botToken(lc string) bool {
	for i := 0; ; {
		j := strings.Index(lc[i:], "bot")
		if j < 0 {
			return false
		}
		i += j + 3
		if i == len(lc) {
			return true
		}
		switch lc[i] {
		case '/', ';', ')', '-', '.', ',':
			return true
		}
	}
}

// versioned reports whether lc has a product/version token: a slash followed by a digit.
func versioned(lc string) bool {
	for i := 0; i+1 < len(lc); i++ {
		if lc[i] == '/' && lc[i+1] >= '0' && lc[i+1] <= '9' {
			return true
		}
	}
	return false
}

// lower returns ua in ASCII lower case, written into buf (ua is at most MaxLen bytes, as Lookup cuts it). The
// result aliases buf: it must not outlive the call that owns buf.
func lower(buf *[MaxLen]byte, ua string) string {
	n := copy(buf[:], ua)
	for i := range n {
		if c := buf[i]; 'A' <= c && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	return unsafe.String(&buf[0], n)
}

// Families from uap-core's regexes that settle the device class.
var (
	mobileOS = map[string]bool{
		"iOS": true, "Android": true, "Windows Phone": true, "BlackBerry OS": true,
		"Symbian OS": true, "Symbian^3": true, "KaiOS": true, "Firefox OS": true, "HarmonyOS": true, "Tizen": true,
		"webOS": true, "Bada": true, "Sailfish": true, "Ubuntu Touch": true,
	}
	desktopOS = map[string]bool{
		"Windows": true, "Mac OS X": true, "Mac OS": true, "Linux": true, "Ubuntu": true, "Chrome OS": true,
		"Fedora": true, "Debian": true, "FreeBSD": true, "OpenBSD": true, "NetBSD": true, "Solaris": true,
		"Mint": true, "Arch Linux": true, "Gentoo": true, "Red Hat": true, "SUSE": true, "Kubuntu": true,
	}
	mobileDevice = map[string]bool{"iPhone": true, "iPod": true, "Generic Smartphone": true, "Generic Feature Phone": true}
	tabletDevice = map[string]bool{"iPad": true, "Generic Tablet": true, "Kindle": true}
)

// classify derives the device class. uap names OS and device families but has no class, so: a bot is a bot;
// tablets are iPads, devices uap calls tablets, Kindles, and Android browsers without "Mobile" (Google's
// convention for telling Android tablets from phones; only for Mozilla-style browser user agents, as Android
// apps' HTTP clients omit it on phones too); then phones by device or OS family or the "Mobi" token; then
// desktops by OS family. iPadOS 13+ sends a Mac user agent and counts as desktop: nothing tells them apart.
func classify(ua, os, device string, bot bool) string {
	switch {
	case bot:
		return Bot
	case tabletDevice[device] || strings.Contains(ua, "Tablet") || strings.Contains(ua, "Silk/") ||
		(os == "Android" && strings.HasPrefix(ua, "Mozilla/") && !strings.Contains(ua, "Mobile")):
		return Tablet
	case mobileDevice[device] || mobileOS[os] || strings.Contains(ua, "Mobi"):
		return Mobile
	case desktopOS[os] || device == "Mac":
		return Desktop
	}
	return Unknown
}
