// Package decisionlog appends every decision to NDJSON files, off the request path.
//
// A request hands the log a fixed-size Record (the feature vector, the fired rules, the decision) by value
// through a bounded queue and returns at once; one writer goroutine formats and writes records, rotating
// files by size. When the queue is full (a slow or full disk) the record is dropped and counted: the log must
// never hold up a login.
//
// The log holds no identifier in clear: users and devices appear as the keyed hashes riskd keys its state
// with, and the IP address only through its derived features (country, ASN, network flags). Records carry
// the feature vector so that backtests can evaluate candidate rules over recorded traffic.
package decisionlog
