// Package backtest replays a decision log through a candidate rule set and compares its decisions with the
// recorded ones.
//
// The decision log holds each decision's feature vector, so a backtest evaluates the candidate over exactly
// what the live rules saw, without the state or the GeoIP databases of the time. Label records (fraud or legit,
// from fraud_confirmed / legit_confirmed outcomes) are joined by evaluation id to measure detection and false
// positives. Records are parsed and evaluated in parallel, one worker per CPU.
//
// A candidate that references a feature the log does not hold sees that feature's zero value.
package backtest
