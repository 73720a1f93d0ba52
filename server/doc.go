// Package server is riskd's HTTP edge on fasthttp: it decodes and validates requests, calls the engine,
// encodes responses, and serves health, readiness and metrics.
//
// The decide and events paths decode JSON by hand (decide bodies in one pass, decode_scan.go) or with fastjson,
// and encode by hand, so a request costs no reflection and, in steady state, no allocation. Request strings
// alias the request body or pooled parser memory and are never kept past the handler. Every error leaves as the JSON shape {"error":{"code","field","message"}}, mapped from domain
// errors to HTTP status in one place (errors.go).
package server
