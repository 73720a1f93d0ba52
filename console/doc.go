// Package console holds the analysts' web console: HTML, CSS and plain JavaScript, embedded in the binary so that
// riskd serves it (server/console.go, at /console/) with nothing fetched at run time and no dependency to refresh.
//
// The pages are a client of the admin API like any other: they call the same endpoints with the session cookie
// the console's sign-in gives (see docs/CONSOLE.md). Nothing in this package runs on the server but the file
// system it exposes.
package console
