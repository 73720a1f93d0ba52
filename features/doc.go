// Package features turns an event into the flat feature vector that rules are evaluated over, and turns
// decisions and outcomes back into state.
//
// Terms:
//   - Event: a request to decide (a login, a checkout...), decoded and validated by the caller.
//   - Outcome: feedback about an earlier event (login failed, MFA passed...), which is how riskd learns.
//   - Vector: one value struct holding every signal of one event; rules read its fields by their `expr` names.
//   - Extractor: reads geo, velocity, facts and profile state for an event (Extract) and writes back what the
//     event taught (Record, Learn). It holds no per-request state, so one Extractor serves all goroutines.
//   - Traits: what a login says about habits (network, ASN, city, client, device class, hour bin), as the
//     behaviour history stores them.
//   - Population: in-process counts of how common each trait value is among all confirmed logins, the p(x) of
//     the familiarity score (login_risk, familiarity) after Freeman et al.
//   - Scope: a class of events (checkout, registration) also counted apart, under scoped keys: each subject's
//     key hashed again with the scope, so the same store counts checkouts, declines and registrations per
//     user, address, network, ASN and device (txvelocity.go).
//
// Strings in an Event may alias a request buffer: the Extractor never keeps them, only their keyed hashes and
// the fixed-size facts stored in package store.
package features
