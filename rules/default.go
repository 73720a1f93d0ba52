package rules

import _ "embed"

//go:embed default.yaml
var defaultRules []byte

// DefaultSource names the built-in rule set.
const DefaultSource = "built-in"

// Default compiles the built-in rule set.
func Default() (*Set, error) { return Compile(DefaultSource, defaultRules) }
