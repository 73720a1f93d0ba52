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
//   - Bot: uap's "Spider" device family (crawlers and monitors that say what they are), or what the first-sight
//     check (obviousBot) calls one from the bytes alone: a crawler, headless-browser or tool token, an HTTP
//     library's default user agent, or a user agent no browser or app sends (too short, "Mozilla/5.0" with no
//     platform, no product/version at all). The full parse keeps that verdict, so a bot never turns into a
//     person once parsed.
//
// The cache is two-way set-associative and lock-free: the set xxhash(ua) names holds at most two immutable
// entries, each keeping its full user agent, so a colliding user agent is told apart. A newcomer takes an empty
// way, else one still waiting for its parse, else one not used since the last newcomer (a second chance); when
// both were used it is refused and tries again at its next sighting. A background Parser also puts a
// doorkeeper in front: a user agent enters the cache (and the parse queue) only at its second sighting, so a
// bot sending a new user agent on every request neither allocates nor evicts the user agents real users send.
// The regexes are compiled on the first miss (~40 ms), not by New, so that an Extractor that never sees a user
// agent (most tests) does not pay for them; call Warm at start-up to keep that off the first request.
package useragent
