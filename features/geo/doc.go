// Package geo enriches an IP address with what MaxMind-format (mmdb) databases
// know about it: country, first subdivision, city and coordinates (City DB),
// autonomous system (ASN DB) and anonymity flags (Anonymous-IP DB).
//
// Terms:
//   - Info: the immutable answer for one address. Lookup hands out shared
//     pointers to it; callers copy what they keep and never write through them.
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
// decoders that write straight into Info (see decode.go): no reflection and no
// per-lookup allocation beyond the cached entry itself. The cache is a
// direct-mapped, lock-free table (see DB): a hit costs ~30 ns and allocates
// nothing, a miss allocates the one entry; figures in geo_timing_test.go.
package geo
