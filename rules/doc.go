// Package rules compiles rule files into an immutable Set and evaluates a Set over a feature vector.
//
// A rule file (File, Spec) is what analysts write: YAML decoded strictly, each rule an expr expression over the
// fields of features.Vector with an effect (a score or an action). Compile type-checks every expression
// against the vector once; a Set is then read-only and shared by all requests, and a new Set replaces it
// atomically. Evaluation reuses a per-goroutine Evaluator so that it allocates nothing.
//
// Terms:
//   - score: points a firing rule adds (or, negative, removes) to the event's risk score, clamped to 0-100.
//   - action: a firing rule's verdict that overrides the score: deny beats allow, allow beats step_up.
//   - thresholds: the scores from which an event steps up or is denied.
package rules
