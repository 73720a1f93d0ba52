// Package redisconn makes the Redis clients of riskd's state (package store) and control store (package
// control) alike: the same addresses, credentials and TLS, and the same client settings, so that the two can
// never reach Redis differently.
//
// An address is host:port, or the absolute path of a Unix socket for a Redis on the same host (a sidecar). A
// socket skips the TCP stack on both ends: on a 2-core machine it took about 15 % off the CPU that both riskd
// and Redis spend on a decision (BENCHMARKS.md, "State backends"). Redis serves TLS on TCP only, so TLS with a
// socket is refused rather than silently dropped.
package redisconn
