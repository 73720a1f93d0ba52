// Package useragent turns a request's User-Agent string into the few facts rules use: browser family and major
// version, OS family, device class and whether the client is a bot or an automation tool.
//
// Terms:
//   - Info: the immutable answer for one user agent. Lookup hands out shared pointers to it; callers copy what
//     they keep and never write through them.
//   - Parser: ua-parser's regexes (uap-core, embedded in uap-go) plus a lookup cache. Parsing one user agent
//     runs hundreds of regular expressions (~0.1-2 ms); the cache makes a repeated user agent cost one atomic
//     load and a string compare, with no allocation.
//   - Device class: desktop, mobile, tablet, bot or unknown, derived from uap's OS and device families and a
//     few well-known tokens of the user agent (see classify).
//   - Bot: uap's "Spider" device family (crawlers and monitors that say what they are), or a marker of
//     automation: a headless browser or an HTTP library's default user agent (see botMarkers).
//
// The cache is two-way set-associative and lock-free: the set xxhash(ua) names holds at most two immutable
// entries, each keeping its full user agent, so a colliding user agent is told apart; a third one in a set
// replaces one of the two. The regexes
// are compiled on the first miss (~40 ms), not by New, so that an Extractor that never sees a user agent (most
// tests) does not pay for them; call Warm at start-up to keep that off the first request.
package useragent
