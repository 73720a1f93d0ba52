// Package features turns an event into the flat feature vector that rules are evaluated over, and turns
// decisions and outcomes back into state.
//
// Terms:
//   - Event: a request to decide (a login, a checkout...), decoded and validated by the caller.
//   - Outcome: feedback about an earlier event (login failed, MFA passed...), which is how riskd learns.
//   - Vector: one value struct holding every signal of one event; rules read its fields by their `expr` names.
//   - Extractor: reads geo, velocity and profile state for an event (Extract) and writes back what the event
//     taught (Record, Learn). It holds no per-request state, so one Extractor serves all goroutines.
//
// Strings in an Event may alias a request buffer: the Extractor never keeps them, only their keyed hashes and
// the fixed-size facts stored in package store.
package features
