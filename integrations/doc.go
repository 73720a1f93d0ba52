// Package integrations holds templates that connect identity servers to riskd, and the tests that hold them to
// riskd's API: auth0/ is an Auth0 post-login Action (JavaScript, tested with node --test against a mock and,
// from this package's tests, against a real riskd); keycloak/ documents how a Keycloak authentication flow
// would call riskd, with the HTTP exchanges it describes replayed here against a real riskd; kratos/ holds the
// Jsonnet body and the configuration fragment of riskd's Ory Kratos hooks, run here end to end against a real
// Kratos, which kratos/e2e/tool (a module of its own, so that Kratos's dependencies stay out of riskd's) builds.
//
// The package has no Go code of its own: its tests start riskd's server over loopback and drive the templates.
package integrations
