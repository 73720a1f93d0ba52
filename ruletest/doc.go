// Package ruletest runs the tests written in rule files.
//
// A rule file's `tests:` section holds cases (rules.Test): events and outcomes to replay (given), one event to
// decide (when), and what the decision must be (expect). Run replays each case through a fresh engine over the
// compiled set, with empty in-memory state and the GeoIP databases it is given, so a case sees exactly what
// live traffic would and nothing of the other cases. The addresses the set declares (rules.Set.TestAddresses)
// are located as declared, whatever the databases say, so a set's tests hold against any GeoIP data. `riskd check` prints the report; reloads (SIGHUP, PUT
// /v1/rules) refuse a set whose tests fail.
//
// Terms:
//   - case: one test of a rule file, named and located by file and line.
//   - step: one given event (decided through engine.Decide, so it teaches as live traffic does) or outcome
//     (engine.Record).
//   - clock: the time relative timestamps ("-2h") count from: the time of the run, or the case's `now`.
package ruletest
