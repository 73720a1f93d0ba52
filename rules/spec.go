package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// File is a rule file as written.
type File struct {
	Version    string     `yaml:"version"`
	Thresholds Thresholds `yaml:"thresholds"`
	Rules      []Spec     `yaml:"rules"`
}

// Thresholds are the scores from which an event steps up or is denied.
type Thresholds struct {
	StepUp int `yaml:"step_up"`
	Deny   int `yaml:"deny"`
}

// Spec is one rule as written.
type Spec struct {
	ID          string   `yaml:"id"`
	Description string   `yaml:"description"`
	When        string   `yaml:"when"`
	Score       *int     `yaml:"score"`
	Action      string   `yaml:"action"`
	Code        string   `yaml:"code"`   // reason code in responses; defaults to ID
	Reason      string   `yaml:"reason"` // message shown to clients and analysts
	Events      []string `yaml:"events"` // event types it applies to; empty = all
	Mode        string   `yaml:"mode"`   // enforce (default) or shadow

	Line int `yaml:"-"` // line of the rule in its file
}

var specKeys = []string{"id", "description", "when", "score", "action", "code", "reason", "events", "mode"}

// UnmarshalYAML decodes a rule, remembering its line and refusing unknown keys: a misspelt key would otherwise
// silently change what a rule does.
func (s *Spec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a rule must be a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !knownKey(k.Value) {
			return fmt.Errorf("line %d: unknown rule key %q (known: %v)", k.Line, k.Value, specKeys)
		}
	}
	type plain Spec
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	s.Line = n.Line
	return nil
}

func knownKey(k string) bool {
	for _, s := range specKeys {
		if s == k {
			return true
		}
	}
	return false
}

// ErrSyntax is returned for a rule file that is not valid YAML of the expected shape.
var ErrSyntax = errors.New("rule file syntax")

// Parse decodes a rule file strictly: unknown keys and trailing documents are errors.
func Parse(data []byte) (*File, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty file", ErrSyntax)
		}
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrSyntax)
	}
	return &f, nil
}
