// Package lists holds named lists that rules test membership in: IP addresses and networks, ASNs,
// countries, devices and users, each entry with an optional expiry and a note.
//
// Lists are managed by file (one entry per line, as threat feeds are published) and through the admin API.
// Every change builds a new immutable Snapshot off the request path and publishes it atomically; a request
// asks one Snapshot which lists an event belongs to and gets a bit mask, in O(log n) per IP list and without
// allocating. Each list has a stable slot (bit) from its creation, so compiled rules keep pointing at it.
//
// The registry also holds exceptions: scoped, expiring suppressions of named rules for the events that match
// them (a user, a device, a network, an ASN, a country, a tenant, or a combination).
//
// Device and user entries are held as the keyed hashes riskd keys its state with, never in clear.
package lists
