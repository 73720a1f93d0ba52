package useragent

import "strings"

// headlessMarkers appear anywhere in the user agent of a scripted browser. Chrome (and so Puppeteer and
// Playwright's Chromium, by default) says HeadlessChrome when run headless; PhantomJS and SlimerJS name
// themselves. A real user's browser never does.
var headlessMarkers = []string{"HeadlessChrome", "PhantomJS", "SlimerJS"}

// libraryPrefixes start the default user agent of an HTTP library or command-line client. A person logging in
// uses a browser or an app, and an app built on such a library normally names itself first ("MyApp/2.1
// okhttp/4.9.0"), so only the library's own default, at the start, counts: that is a script. The list holds
// the clients seen most in credential-stuffing tooling; it is short on purpose, as every entry is a possible
// false positive for API clients, which rules can tell apart by channel.
var libraryPrefixes = []string{
	"curl/", "Wget/", "python-requests/", "Python-urllib/", "python-httpx/", "aiohttp/", "Go-http-client/",
	"okhttp/", "Java/", "Apache-HttpClient/", "axios/", "node-fetch/", "libwww-perl/", "Scrapy/",
}

// automation reports whether ua is a headless browser or an HTTP library's default user agent.
func automation(ua string) bool {
	for _, m := range headlessMarkers {
		if strings.Contains(ua, m) {
			return true
		}
	}
	for _, m := range libraryPrefixes {
		if len(ua) >= len(m) && strings.EqualFold(ua[:len(m)], m) {
			return true
		}
	}
	return false
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
