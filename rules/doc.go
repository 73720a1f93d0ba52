// Package rules compiles rule files into an immutable Set and evaluates a Set over a feature vector.
//
// A rule file (File, Spec, Overlay, TestSpec) is what analysts write: YAML decoded strictly, each rule an expr
// expression over the fields of features.Vector with an effect (a score or an action), thresholds per event
// type, per-tenant overlays and test cases. Compile (or Load, for a file or a directory of files) type-checks
// every expression against the vector once and resolves every tenant's view of the set; a Set is then
// read-only and shared by all requests, and a new Set replaces it atomically. Evaluation reuses a
// per-goroutine Evaluator and only looks the event's tenant up, so that it allocates nothing.
//
// Most rules never reach the expr VM: Compile also translates each checked expression that stays within a
// subset (fields, constants, comparisons, logic, arithmetic, in; see native.go) into Go closures that read the
// vector directly, several times faster. The VM remains the reference and the fallback for everything else,
// and differential tests and a fuzz target hold the two to the same answers.
//
// No rule can stall or kill the process: Compile holds every checked expression to an allow-list of node
// kinds, operators and builtins and to a static bound of its work and memory (cost.go), and a Gate runs rule
// work (compile, tests, backtest) one job at a time in a process. Evaluation itself pays nothing for either.
//
// The set's tests are decoded and checked here (tests.go) and run by package ruletest, which needs an engine.
//
// Terms:
//   - score: points a firing rule adds (or, negative, removes) to the event's risk score, clamped to 0-100.
//   - action: a firing rule's verdict that overrides the score: deny beats allow, allow beats step_up.
//   - thresholds: the scores from which an event steps up or is denied, per event type.
//   - tenant: the brand an event belongs to. An overlay changes the global set for one tenant: global rules
//     disabled by id, thresholds, rules of its own. A tenant without an overlay sees the global view.
//   - view: the rules that apply to one tenant's events, per event type, and its thresholds, resolved once.
//   - expiry: a rule's end, by event time: events at or after it no longer see the rule.
//   - native: a rule evaluated by its compiled closures rather than by the VM (Rule.Native, Set.NativeRules).
//   - steps: the unit of a rule's cost bound: one per operation, plus one per byte or element read or built.
//   - extends, layer: a set that extends another (extends: builtin) is compiled on top of the base's files;
//     each file has a layer (0 the deepest base), and a higher layer replaces, removes or merges into a lower
//     one's rules, thresholds, overlays and tests (extends.go).
//   - document: one YAML document of a source; a source of several (separated by ---) is that many files.
//   - test addresses: the geography a set declares for its tests' addresses (addresses.go), which tests see
//     whatever GeoIP databases they run with.
package rules
