// Package servertest serves riskd over real HTTP for the tests of its clients and integrations: the built-in
// rules over MaxMind's test GeoIP databases and fresh in-memory state (enginetest), on a loopback port, stopped
// when the test ends.
package servertest
