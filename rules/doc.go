// Package rules compiles rule files into an immutable Set and evaluates a Set over a feature vector.
//
// A rule file (File, Spec) is what analysts write: YAML decoded strictly, each rule an expr expression over the
// fields of features.Vector with an effect (a score or an action). Compile type-checks every expression
// against the vector once; a Set is then read-only and shared by all requests, and a new Set replaces it
// atomically. Evaluation reuses a per-goroutine Evaluator so that it allocates nothing.
//
// Most rules never reach the expr VM: Compile also translates each checked expression that stays within a
// subset (fields, constants, comparisons, logic, arithmetic, in; see native.go) into Go closures that read the
// vector directly, several times faster. The VM remains the reference and the fallback for everything else,
// and differential tests and a fuzz target hold the two to the same answers.
//
// Terms:
//   - score: points a firing rule adds (or, negative, removes) to the event's risk score, clamped to 0-100.
//   - action: a firing rule's verdict that overrides the score: deny beats allow, allow beats step_up.
//   - thresholds: the scores from which an event steps up or is denied.
//   - native: a rule evaluated by its compiled closures rather than by the VM (Rule.Native, Set.NativeRules).
package rules
