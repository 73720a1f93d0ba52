// Package control is riskd's control plane: it keeps the documents analysts change through the admin API (the
// live rule set, the shadow rule set, the lists and the exceptions) as versioned documents in the state
// backend, and makes every instance serve the newest version of each.
//
// Terms. A Document is one of those things, by name ("rules", "shadow", "lists", "exceptions"). A Version is
// one state of a document: its Files (rule files, or the lists' JSON), who made it (Author, the API key's name,
// or "file:<path>" / "built-in" for what riskd read itself), when, why (Note), and how (Action: put, delete,
// rollback, file). Versions are numbered 1, 2, ... per document; a Store keeps the newest KeepVersions of them.
// A Plane serves one instance: it commits new versions (compare-and-set on the newest number, so two instances
// never both write version n), and applies the newest version of each document through the document's
// Prepare (compile, test: the gate a version passes to go live) and Install (an atomic swap). An instance that
// cannot prepare a version keeps serving the one it has and reports it (Status, metrics).
//
// Stores: Bolt (a file in --data-dir, one node), Redis (instances sharing a Redis), Memory (no durability).
// Instances learn of new versions by polling the documents' version numbers (one MGET per PollInterval).
package control
