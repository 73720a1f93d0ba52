package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is a rule file as written. A set may be spread over several files (Load of a directory, a YAML stream
// of several documents): then at most one of them gives Version, Thresholds and Extends.
type File struct {
	Version    string                  `yaml:"version"`
	Extends    string                  `yaml:"extends"` // the set this one builds on (extends.go); "" for none
	Thresholds *ThresholdsSpec         `yaml:"thresholds"`
	Disable    []Ref                   `yaml:"disable"`       // with extends: the base's rules to remove, by id
	DropTests  []Ref                   `yaml:"disable_tests"` // with extends: the base's tests not to run, by name
	Rules      []Spec                  `yaml:"rules"`
	Tenants    map[string]*Overlay     `yaml:"tenants"`
	Tests      []TestSpec              `yaml:"tests"`
	Addresses  map[string]*AddressSpec `yaml:"addresses"` // the geography of the tests' addresses (addresses.go)
	Signals    *SignalsSpec            `yaml:"signals"`

	Line     int `yaml:"-"` // where the document starts
	problems []lineMsg
	keys     keyLines
}

// UnmarshalYAML decodes a rule file strictly, keeping what it can of a document with unknown keys so that
// every error of a set is reported in one run.
func (f *File) UnmarshalYAML(n *yaml.Node) error {
	type plain File
	if n.Kind != yaml.MappingNode {
		return shapeError(n.Line, "a rule file is a mapping (version, thresholds, rules, tenants, tests, …)")
	}
	f.problems = decodeStrict(n, "", (*plain)(f))
	f.Line, f.keys = n.Line, collectKeyLines(n)
	return nil
}

// ThresholdsSpec is a thresholds block as written: the scores from which an event steps up or is denied, and
// overrides per event type. In a tenant overlay every value is optional and replaces the inherited one.
type ThresholdsSpec struct {
	StepUp *int              `yaml:"step_up"`
	Deny   *int              `yaml:"deny"`
	Events map[string]*Level `yaml:"events"` // by event type

	Line     int `yaml:"-"`
	problems []lineMsg
	keys     keyLines
}

// Level is the thresholds of one event type as written; either value may be left out.
type Level struct {
	StepUp *int `yaml:"step_up"`
	Deny   *int `yaml:"deny"`

	Line     int `yaml:"-"`
	problems []lineMsg
	keys     keyLines
}

// Overlay is what a tenant (brand) changes in the global set: global rules switched off by id, thresholds,
// and rules of its own.
type Overlay struct {
	Disable    []Ref           `yaml:"disable"`
	Thresholds *ThresholdsSpec `yaml:"thresholds"`
	Rules      []Spec          `yaml:"rules"`

	Line     int `yaml:"-"`
	problems []lineMsg
	keys     keyLines
}

// Ref is a rule id (or a test's name) as written, with its line.
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

	Line     int `yaml:"-"` // line of the rule in its file
	problems []lineMsg
	keys     keyLines
}

// UnmarshalYAML decodes a rule, remembering its line and refusing unknown keys: a misspelt key would otherwise
// silently change what a rule does.
func (s *Spec) UnmarshalYAML(n *yaml.Node) error {
	type plain Spec
	what := "rule"
	if id := mappingValue(n, "id"); id != "" {
		what = fmt.Sprintf("rule %q", id)
	}
	if n.Kind != yaml.MappingNode {
		return shapeError(n.Line, what+" must be a mapping")
	}
	s.problems = decodeStrict(n, what, (*plain)(s))
	s.Line, s.keys = n.Line, collectKeyLines(n)
	return nil
}

// UnmarshalYAML decodes a thresholds block strictly.
func (t *ThresholdsSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain ThresholdsSpec
	if n.Kind != yaml.MappingNode {
		return shapeError(n.Line, "thresholds"+" must be a mapping")
	}
	t.problems = decodeStrict(n, "thresholds", (*plain)(t))
	t.Line, t.keys = n.Line, collectKeyLines(n)
	return nil
}

// UnmarshalYAML decodes one event type's thresholds strictly.
func (l *Level) UnmarshalYAML(n *yaml.Node) error {
	type plain Level
	if n.Kind != yaml.MappingNode {
		return shapeError(n.Line, "event thresholds"+" must be a mapping")
	}
	l.problems = decodeStrict(n, "event thresholds", (*plain)(l))
	l.Line, l.keys = n.Line, collectKeyLines(n)
	return nil
}

// UnmarshalYAML decodes a tenant overlay strictly.
func (o *Overlay) UnmarshalYAML(n *yaml.Node) error {
	type plain Overlay
	if n.Kind != yaml.MappingNode {
		return shapeError(n.Line, "tenant"+" must be a mapping")
	}
	o.problems = decodeStrict(n, "tenant", (*plain)(o))
	o.Line, o.keys = n.Line, collectKeyLines(n)
	return nil
}

// UnmarshalYAML decodes a rule id.
func (r *Ref) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return shapeError(n.Line, "a rule id must be a string")
	}
	r.ID, r.Line = n.Value, n.Line
	return nil
}

// shapeError is a shape error at a line that drops the value it is about (a rule that is not a mapping, a
// rule id that is not a string) but lets decoding go on: yaml.v3 collects *yaml.TypeErrors and returns them
// together at the end, where parseStream turns them back into errors at their lines.
func shapeError(line int, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", line, msg)}}
}

// decodeStrict decodes the mapping n into out (a pointer to a struct without an UnmarshalYAML method) and
// returns what is wrong with it: keys out has no field for (decoding the others anyway, so that the rest of
// the file is still checked) and values of the wrong type. yaml.v3 does not pass the decoder's KnownFields on
// to a Node's Decode, so every type decoded through a custom UnmarshalYAML checks its own keys here. what
// prefixes the messages ("rule \"x\""); "" for the file's top level.
func decodeStrict(n *yaml.Node, what string, out any) []lineMsg {
	var problems []lineMsg
	known := yamlKeys(reflect.TypeOf(out).Elem())
	prefix := what
	if prefix != "" {
		prefix += ": "
	}
	kept := *n
	kept.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !contains(known, k.Value) {
			problems = append(problems, lineMsg{k.Line, fmt.Sprintf("%sunknown key %q (known: %s)", prefix, k.Value, strings.Join(known, ", "))})
			continue
		}
		// yaml.v3 gives up on a whole mapping with a duplicate key, which would hide every other error in it.
		if prev := keyNode(&kept, k.Value); prev != nil {
			problems = append(problems, lineMsg{k.Line, fmt.Sprintf("%skey %q already given at line %d", prefix, k.Value, prev.Line)})
			continue
		}
		kept.Content = append(kept.Content, k, n.Content[i+1])
	}
	if err := kept.Decode(out); err != nil {
		problems = append(problems, typeProblems(err, prefix)...)
	}
	return problems
}

// keyNode returns the key node named key of the mapping n, or nil.
func keyNode(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

// typeProblems turns a decoding error into problems at their lines. yaml.v3 formats each of a TypeError's
// messages as "line N: …".
func typeProblems(err error, prefix string) []lineMsg {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []lineMsg{{0, prefix + err.Error()}}
	}
	out := make([]lineMsg, 0, len(te.Errors))
	for _, msg := range te.Errors {
		line := 0
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if num, tail, ok := strings.Cut(rest, ": "); ok {
				if l, err := strconv.Atoi(num); err == nil {
					line, msg = l, tail
				}
			}
		}
		if strings.HasPrefix(msg, "cannot unmarshal") {
			msg = prefix + msg
		}
		out = append(out, lineMsg{line, msg})
	}
	return out
}

// keyLine is where a key and its value are written.
type keyLine struct {
	key             string
	line, valueLine int
	style           yaml.Style // the value's: a literal block (|) keeps its lines, so an error inside can point at one
}

// keyLines are the keys of one mapping with their lines, so that an error points at the key it is about.
type keyLines []keyLine

func collectKeyLines(n *yaml.Node) keyLines {
	out := make(keyLines, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, keyLine{n.Content[i].Value, n.Content[i].Line, n.Content[i+1].Line, n.Content[i+1].Style})
	}
	return out
}

// line returns the line of key, or def when the mapping does not have it.
func (k keyLines) line(key string, def int) int {
	for _, kl := range k {
		if kl.key == key {
			return kl.line
		}
	}
	return def
}

// valueLine returns the line of the n-th line (from 1) of key's value, as far as the file keeps it: a literal
// block's lines are the file's, any other value's lines are folded into one.
func (k keyLines) valueLine(key string, n, def int) int {
	for _, kl := range k {
		if kl.key != key {
			continue
		}
		switch {
		case kl.style&yaml.LiteralStyle != 0 && n >= 1:
			return kl.valueLine + n
		case kl.style&yaml.FoldedStyle != 0:
			return kl.valueLine + 1
		}
		return kl.line
	}
	return def
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

// ErrSyntax is returned for a rule file that is not valid YAML.
var ErrSyntax = errors.New("rule file syntax")

// Parse decodes one rule file strictly: unknown keys, duplicate keys, values of the wrong type and several
// documents are errors. (Sets of several files, or of a YAML stream of several documents, compile with
// CompileSources and Compile.)
func Parse(data []byte) (*File, error) {
	files, problems, err := parseStream(data)
	switch {
	case err != nil:
		return nil, err
	case len(files) > 1:
		return nil, fmt.Errorf("%w: more than one YAML document", ErrSyntax)
	case len(problems) > 0:
		p := problems[0]
		return nil, fmt.Errorf("%w: line %d: %s", ErrSyntax, p.line, p.msg)
	}
	return files[0], nil
}

// parseStream decodes every document of a YAML stream as a rule file. Problems of shape (unknown keys, wrong
// types) come back with the files, decoded as far as they go, so that compiling them still finds every other
// error; only YAML that does not parse at all is an error. Documents with nothing in them are skipped.
func parseStream(data []byte) ([]*File, []lineMsg, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var files []*File
	var problems []lineMsg
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrSyntax, err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue
		}
		var f File
		if err := doc.Decode(&f); err != nil {
			problems = append(problems, typeProblems(err, "")...)
			if f.keys == nil {
				continue // not a mapping
			}
		}
		problems = append(problems, f.shapeProblems()...)
		files = append(files, &f)
	}
	if len(files) == 0 && len(problems) == 0 {
		return nil, nil, fmt.Errorf("%w: empty file", ErrSyntax)
	}
	return files, problems, nil
}

// shapeProblems gathers the problems every part of f found while it was decoded.
func (f *File) shapeProblems() []lineMsg {
	out := slices.Clone(f.problems)
	thresholds := func(t *ThresholdsSpec) {
		if t == nil {
			return
		}
		out = append(out, t.problems...)
		for _, l := range t.Events {
			if l != nil {
				out = append(out, l.problems...)
			}
		}
	}
	specs := func(rs []Spec) {
		for i := range rs {
			out = append(out, rs[i].problems...)
		}
	}
	thresholds(f.Thresholds)
	specs(f.Rules)
	for _, ov := range f.Tenants {
		if ov != nil {
			out = append(out, ov.problems...)
			thresholds(ov.Thresholds)
			specs(ov.Rules)
		}
	}
	for i := range f.Tests {
		t := &f.Tests[i]
		out = append(out, t.problems...)
		for _, l := range t.Lists {
			out = append(out, l.problems...)
		}
		for j := range t.Exceptions {
			out = append(out, t.Exceptions[j].problems...)
		}
		for j := range t.Given {
			out = append(out, t.Given[j].problems...)
		}
		if t.When != nil {
			out = append(out, t.When.problems...)
		}
		if t.Expect != nil {
			out = append(out, t.Expect.problems...)
		}
	}
	if f.Signals != nil {
		out = append(out, f.Signals.problems...)
	}
	for _, a := range f.Addresses {
		if a != nil {
			out = append(out, a.problems...)
		}
	}
	return out
}
