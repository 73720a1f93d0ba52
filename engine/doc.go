// Package engine is riskd's decision pipeline: event -> features -> rules -> decision -> state update.
//
// Decide extracts the feature vector of an event, evaluates the live rule set over it, applies the user's MFA
// preference, records what the event teaches and returns the decision with its reasons. Record applies an
// outcome (login failed, MFA passed...) to state. The live rule set is swapped atomically (SwapRules) while
// requests are being served.
//
// Terms:
//   - decision: allow, step_up (ask for a second factor) or deny, with a 0-100 score and reasons.
//   - event time: the request's timestamp, else arrival time, and never later than arrival (a timestamp ahead of
//     it, within the accepted skew, is taken as arrival); all state runs on it.
package engine
