// Package fixed is the ceiling riskd's HTTP throughput is measured against: a fasthttp server configured like
// riskd's (same buffer sizes, timeouts, concurrency limit and header options) whose handler answers
// POST /v1/decide with one fixed decision without reading the body. Whatever riskd loses to it under the same
// load generator is the cost of decoding, deciding, recording and encoding, not of HTTP.
//
// It is a package, not only a command, so that bench/load's end-to-end test can serve it in-process.
package fixed
