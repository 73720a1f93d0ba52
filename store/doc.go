// Package store holds riskd's state: sliding-window velocity counters, per-subject facts (distinct counts,
// amounts, a device's first sighting) and per-user behaviour profiles, and the backends that keep them.
//
// State is the interface package features uses. Memory keeps everything in this process; Embedded (the default
// of `riskd serve --data-dir`) adds durability in a data directory, writing profiles behind in batches to a bbolt
// file and the counters to a snapshot on a clean stop; Redis shares everything between riskd instances through
// Redis or Redis Cluster, falling back to a local Memory while Redis is out of reach. No backend does disk or
// network I/O on the request path other than Redis's one round trip per decision and, with Embedded, a bbolt
// read (an mmap read, no lock held) for a profile evicted from the bounded in-memory table.
//
// Everything here is keyed by 64-bit keyed hashes of the subject (user id, IP address, device id), never by the
// raw identifier, so the tables neither keep personal data in clear nor let a client choose colliding keys.
// The types in this package know how state is kept and bounded; what an event means for that state is decided
// by package features, which describes profile changes as ProfileOp values that every backend applies alike.
//
// Terms:
//   - event time: every method takes the time of the event (unix seconds), not the wall clock, so imports,
//     replays and backtests update state as live traffic did.
//   - key: the 64-bit hash of a subject within one table.
//   - subject: a user, an IP address, a subnet (/24 or /64), an ASN or a device. Each kind has a table whose
//     record per subject holds its velocity rings and, for users, addresses, subnets and devices, its facts.
//     The kinds are declared once, in kinds (subjects.go).
//   - table: the one container of fixed-size records keyed by hash (table.go), sharded, bounded and evicted by
//     sampling, that the subjects and the profiles all are.
//   - stamped set: a fixed number of (16-bit fingerprint, minute) slots counting distinct items per window.
//   - flush: the Embedded writer committing the profiles changed since the last flush.
package store
