// Package client is riskd's Go client: typed calls for decisions, outcomes, users and rules over riskd's HTTP
// API (api/openapi.yaml), with the failover an identity server needs on its login path.
//
// Decide never fails a login because of riskd: on a timeout (Config.Timeout, 100 ms by default), a connection
// error, a 5xx (503 included) or an answer it cannot read, it returns the fail policy's decision for the event
// type, marked Fallback with the reason code fail_policy, the same answer riskd gives when it cannot evaluate.
// It never retries: a retry on the login path spends the user's time on a service that just failed.
//
// Outcomes (/v1/events) may be sent synchronously (ReportOutcome) or queued (Enqueue): a bounded queue and
// background senders that retry with backoff, honour Retry-After, and count what they drop (Stats).
//
// The package imports nothing of riskd: only the standard library. api/openapi.yaml is the contract it follows;
// its tests hold it to that contract and to a real riskd.
package client
