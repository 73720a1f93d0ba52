// Package store holds riskd's state: sliding-window velocity counters and per-user behaviour profiles.
//
// Everything here is keyed by 64-bit keyed hashes of the subject (user id, IP address, device id), never by the
// raw identifier, so the tables neither keep personal data in clear nor let a client choose colliding keys.
// The types in this package know how state is kept and bounded; what an event means for that state is decided
// by package features.
//
// Terms:
//   - event time: every method takes the time of the event (unix seconds), not the wall clock, so imports,
//     replays and backtests update state as live traffic did.
//   - key: the 64-bit hash of a subject within one table.
package store
