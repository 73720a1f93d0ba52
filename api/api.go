package api

import _ "embed"

//go:embed openapi.yaml
var spec string

// Spec returns the OpenAPI document (YAML). It is a string, so no caller can change what the others read.
func Spec() string { return spec }
