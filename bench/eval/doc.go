// Command eval measures riskd's rules on a synthetic, labelled population: legitimate users of several kinds
// and attacks of several kinds log in for simulated weeks, every event goes through riskd's real decision path
// (the engine with a rule set, a GeoIP2-schema database and the user-agent parser, assembled as `riskd serve`
// assembles them), and the identity server's feedback (login succeeded, MFA passed or failed) goes back in.
// It prints, per class, the share of events allowed, stepped up and denied, and checks the goals riskd's
// default rules are tuned for.
//
//	go run ./bench/eval [-geoip DIR] [-rules FILE|DIR] [-users N] [-seed S] [-explain] [-json] [-out FILE.csv] [-dump FILE.ndjson]
//
// Terms:
//   - class: what an event is, known to the generator and never to riskd: a legitimate situation (habitual
//     login, a trip abroad or in the country, a café's network, cookies cleared, a shared family device, a mobile
//     carrier address, a new phone, a retry after a mistyped password) or an attack (stuffing, spraying, account takeover, impossible travel, anonymising networks,
//     a known-bad address).
//   - warm-up and measured period: events run on simulated event time; the first days build the profiles and
//     are not scored, only the measured period is.
//   - takeover: an attack with valid credentials, which only a step-up or a deny stops.
//
// One job per file: networks.go indexes the GeoIP database's networks, useragents.go the browsers, population.go
// writes the legitimate users' events, attacks.go the attacks', replay.go feeds them through the engine and
// report.go prints the result.
package main
