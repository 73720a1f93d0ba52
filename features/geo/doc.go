// Package geo enriches an IP address with what MaxMind-format (mmdb) databases
// know about it: country, first subdivision, city and coordinates (City DB),
// autonomous system (ASN DB) and anonymity flags (Anonymous-IP DB).
//
// Terms:
//   - Info: the answer for one address. LookupInto copies it into the
//     caller's; its names are read-only views of the database file in memory,
//     valid for as long as the caller holds them.
//   - DB: one generation of open readers plus a lookup cache. It is immutable
//     once opened: a reload opens a new DB off the request path, swaps it in
//     (atomic.Pointer in the caller) and closes the old one, which is safe
//     while requests still use it. A failed Open leaves the old DB serving.
//   - Source: what Status reports per configured database (type, build time).
//
// Each database is optional; a DB with none configured, and a nil *DB, answer
// every lookup with an empty Info, so the request path never branches on "geo
// configured?".
//
// Only the record fields riskd uses are decoded, by hand-written cursor
// decoders that write straight into Info, names as views of the file (see
// decode.go): no reflection and no allocation. The cache is a direct-mapped,
// lock-free table of answers held inline under a sequence counter (see DB):
// a hit costs ~30 ns, and neither a hit nor a miss allocates; figures in
// geo_timing_test.go.
package geo
