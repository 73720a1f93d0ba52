// Package signals tells the rest of the security stack what riskd learns about accounts: an OpenID Shared
// Signals Framework (SSF 1.0) transmitter sending CAEP and RISC events as signed Security Event Tokens
// (RFC 8417), by push (RFC 8935) or poll (RFC 8936).
//
// The engine hands it signal-worthy decisions and outcomes (engine.SignalSink) through a bounded queue: a full
// queue drops and counts, never blocks a decision. One worker turns signals into changes of a user's risk
// level (rules.RiskModel) and events, signs one SET per event and stream, and queues it on each stream that
// asked for its type; push streams deliver from their own bounded queue with retries, poll streams hold their
// SETs until the receiver acknowledges them. Signed webhooks (webhook.go) are fed by the same signals.
//
// Terms:
//   - stream: one receiver's configuration (events requested, delivery method, token), its status (enabled,
//     paused, disabled) and the subjects removed from it. Streams and their queues live in memory, and in a
//     state file when a data dir is given (persist.go).
//   - subject: the user, as sub_id (RFC 9493) in the opaque format, or iss_sub when an issuer is configured,
//     carrying the user id as the caller sent it. riskd keeps the raw id only inside queued events, until they
//     are delivered; Forget purges them.
package signals
