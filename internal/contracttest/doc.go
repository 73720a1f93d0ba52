// Package contracttest holds HTTP traffic to riskd's contract, api/openapi.yaml, for tests: a RoundTripper that
// validates every request a test sends and every answer it gets, and fails the test on any mismatch. The
// server's tests and the client's tests send their traffic through it, so a field, a status or an error code
// the server adds without the contract (or the contract without the server) fails them.
//
// Only tests import it: the riskd binary does not carry the validator (kin-openapi).
package contracttest
