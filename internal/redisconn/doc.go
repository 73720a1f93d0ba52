// Package redisconn makes the Redis clients of riskd's state (package store) and control store (package
// control) alike: the same addresses, credentials and TLS, and the same client settings, so that the two can
// never reach Redis differently.
//
// An address is host:port, or the absolute path of a Unix socket for a Redis on the same host (a sidecar). A
// socket skips the TCP stack on both ends: on a 2-core machine Redis spent about a tenth less CPU on a decision,
// riskd a little less (BENCHMARKS.md, "State backends"). Redis serves TLS on TCP only, so TLS with a socket is
// refused rather than silently dropped.
//
// The clients speak RESP2, whose HGETALL answer is a flat array, which the store reads pair by pair, where a RESP3
// map can only be read into a Go map, one per subject a decision reads.
package redisconn
