package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is a rule file as written. A set may be spread over several files (Load of a directory): then at most
// one of them gives Version and Thresholds.
type File struct {
	Version    string              `yaml:"version"`
	Thresholds *ThresholdsSpec     `yaml:"thresholds"`
	Rules      []Spec              `yaml:"rules"`
	Tenants    map[string]*Overlay `yaml:"tenants"`
	Tests      []TestSpec          `yaml:"tests"`
	Signals    *SignalsSpec        `yaml:"signals"`
}

// ThresholdsSpec is a thresholds block as written: the scores from which an event steps up or is denied, and
// overrides per event type. In a tenant overlay every value is optional and replaces the inherited one.
type ThresholdsSpec struct {
	StepUp *int              `yaml:"step_up"`
	Deny   *int              `yaml:"deny"`
	Events map[string]*Level `yaml:"events"` // by event type

	Line int `yaml:"-"`
}

// Level is the thresholds of one event type as written; either value may be left out.
type Level struct {
	StepUp *int `yaml:"step_up"`
	Deny   *int `yaml:"deny"`

	Line int `yaml:"-"`
}

// Overlay is what a tenant (brand) changes in the global set: global rules switched off by id, thresholds,
// and rules of its own.
type Overlay struct {
	Disable    []Ref           `yaml:"disable"`
	Thresholds *ThresholdsSpec `yaml:"thresholds"`
	Rules      []Spec          `yaml:"rules"`

	Line int `yaml:"-"`
}

// Ref is a rule id as written, with its line.
type Ref struct {
	ID   string
	Line int
}

// Spec is one rule as written.
type Spec struct {
	ID          string   `yaml:"id"`
	Description string   `yaml:"description"`
	When        string   `yaml:"when"`
	Score       *int     `yaml:"score"`
	Action      string   `yaml:"action"`
	Code        string   `yaml:"code"`    // reason code in responses; defaults to ID
	Reason      string   `yaml:"reason"`  // message shown to clients and analysts
	Events      []string `yaml:"events"`  // event types it applies to; empty = all
	Mode        string   `yaml:"mode"`    // enforce (default) or shadow
	Expires     string   `yaml:"expires"` // RFC 3339 (or a date): by event time, the rule no longer applies after it

	Line int `yaml:"-"` // line of the rule in its file
}

// UnmarshalYAML decodes a rule, remembering its line and refusing unknown keys: a misspelt key would otherwise
// silently change what a rule does.
func (s *Spec) UnmarshalYAML(n *yaml.Node) error {
	type plain Spec
	what := "rule"
	if id := mappingValue(n, "id"); id != "" {
		what = fmt.Sprintf("rule %q", id)
	}
	if err := decodeStrict(n, what, (*plain)(s)); err != nil {
		return err
	}
	s.Line = n.Line
	return nil
}

// UnmarshalYAML decodes a thresholds block strictly.
func (t *ThresholdsSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain ThresholdsSpec
	if err := decodeStrict(n, "thresholds", (*plain)(t)); err != nil {
		return err
	}
	t.Line = n.Line
	return nil
}

// UnmarshalYAML decodes one event type's thresholds strictly.
func (l *Level) UnmarshalYAML(n *yaml.Node) error {
	type plain Level
	if err := decodeStrict(n, "event thresholds", (*plain)(l)); err != nil {
		return err
	}
	l.Line = n.Line
	return nil
}

// UnmarshalYAML decodes a tenant overlay strictly.
func (o *Overlay) UnmarshalYAML(n *yaml.Node) error {
	type plain Overlay
	if err := decodeStrict(n, "tenant", (*plain)(o)); err != nil {
		return err
	}
	o.Line = n.Line
	return nil
}

// UnmarshalYAML decodes a rule id.
func (r *Ref) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &lineError{n.Line, "a rule id must be a string"}
	}
	r.ID, r.Line = n.Value, n.Line
	return nil
}

// lineError is a shape error at a line of a rule file; Parse prefixes it with the file's name.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// decodeStrict decodes the mapping n into out (a pointer to a struct without an UnmarshalYAML method),
// refusing keys out has no field for. yaml.v3 does not pass the decoder's KnownFields on to a Node's Decode,
// so every type decoded through a custom UnmarshalYAML checks its own keys here.
func decodeStrict(n *yaml.Node, what string, out any) error {
	if n.Kind != yaml.MappingNode {
		return &lineError{n.Line, what + " must be a mapping"}
	}
	known := yamlKeys(reflect.TypeOf(out).Elem())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !contains(known, k.Value) {
			return &lineError{k.Line, fmt.Sprintf("%s: unknown key %q (known: %s)", what, k.Value, strings.Join(known, ", "))}
		}
	}
	return n.Decode(out)
}

// yamlKeys lists the keys of a struct type's yaml tags, in field order.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// mappingValue returns the scalar value of key in the mapping n, or "".
func mappingValue(n *yaml.Node, key string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ErrSyntax is returned for a rule file that is not valid YAML of the expected shape.
var ErrSyntax = errors.New("rule file syntax")

// Parse decodes a rule file strictly: unknown keys, duplicate keys and trailing documents are errors.
func Parse(data []byte) (*File, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty file", ErrSyntax)
		}
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrSyntax)
	}
	return &f, nil
}

// parseNamed is Parse with errors prefixed by name, at the line when the error has one.
func parseNamed(name string, data []byte) (*File, error) {
	f, err := Parse(data)
	if err == nil {
		return f, nil
	}
	var le *lineError
	if errors.As(err, &le) {
		return nil, fmt.Errorf("%s:%d: %w: %s", name, le.line, ErrSyntax, le.msg)
	}
	return nil, fmt.Errorf("%s: %w", name, err)
}
