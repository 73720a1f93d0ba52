package rules

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Sets that build on other sets. A file that says `extends: builtin` (or the name of another set, which the
// caller's Bases resolves) holds only what it adds or changes; compiling it compiles the base's files first,
// each file tagged with its layer (0 for the deepest base, one more per extends), and the compiler lets a
// higher layer change a lower one:
//
//   - a global rule with the id of a base rule replaces it; `disable: [id, …]` removes base rules;
//   - thresholds merge value by value (step_up, deny, and each event type's), the higher layer's winning;
//   - a tenant's overlay merges likewise: its rules replace the base tenant's by id or are added, its disable
//     list adds to the base's, its thresholds merge;
//   - version and signals, when given, replace the base's;
//   - the base's tests still run, against the whole set, unless a test of the same name replaces one or
//     `disable_tests: [name, …]` drops it: they are the base's contract (credential stuffing is denied, Tor
//     does not get in), and an extension that breaks one should have to say so;
//   - addresses (the tests' geography) given again replace the base's.
//
// Within one layer, the rules of several files apply as before: one file gives each set-wide part.

// Bases resolves the name a set extends (other than "builtin") to that set's files. The control plane passes
// one that knows its stored versions; nil knows only the built-in set.
type Bases func(name string) ([]Source, error)

// BaseBuiltin is the name that extends the built-in set.
const BaseBuiltin = "builtin"

// ErrUnknownBase is returned (wrapped) by a Bases that does not know a name.
var ErrUnknownBase = errors.New("unknown base rule set")

// maxExtendsDepth bounds a chain of sets extending sets: a longer chain is a mistake, and a cycle would not end.
const maxExtendsDepth = 4

// layered parses srcs, each a YAML stream of one or more rule files, and prepends the files of the set they
// extend, recursively. It reports to c whatever is wrong and says whether the files are fit to compile: YAML
// that does not parse leaves nothing to compile; shape problems (unknown keys, wrong types) do not stop it.
func (c *compiler) layered(srcs []Source, bases Bases, chain []string) ([]namedFile, bool) {
	var own []namedFile
	ok := true
	for _, src := range srcs {
		fs, problems, err := parseStream(src.Data)
		if err != nil {
			line, msg := yamlErrorLine(err)
			c.errorf(src.Name, line, "%s: %s", ErrSyntax, strings.TrimPrefix(msg, ErrSyntax.Error()+": "))
			ok = false
			continue
		}
		for _, p := range problems {
			c.errorf(src.Name, p.line, "%s: %s", ErrSyntax, p.msg)
		}
		for _, f := range fs {
			own = append(own, namedFile{name: src.Name, f: f})
		}
	}
	if !ok {
		return nil, false
	}
	var extends string
	var extendsAt string
	for _, nf := range own {
		e := nf.f.Extends
		if e == "" {
			if len(nf.f.Disable) > 0 {
				c.errorf(nf.name, nf.f.Disable[0].Line, "disable: removes rules of the set this one extends: give extends (e.g. extends: builtin), or remove the rules")
			}
			if len(nf.f.DropTests) > 0 {
				c.errorf(nf.name, nf.f.DropTests[0].Line, "disable_tests: drops tests of the set this one extends: give extends (e.g. extends: builtin)")
			}
			continue
		}
		line := nf.f.keys.line("extends", nf.f.Line)
		if extends != "" {
			c.errorf(nf.name, line, "extends: also given at %s; give it in one file", extendsAt)
			continue
		}
		extends, extendsAt = e, fmt.Sprintf("%s:%d", nf.name, line)
	}
	if extends == "" {
		return own, true
	}
	base, ok := c.base(extends, extendsAt, bases, chain)
	if !ok {
		return nil, false
	}
	top := 0
	for _, nf := range base {
		top = max(top, nf.layer+1)
	}
	for i := range own {
		own[i].layer = top
	}
	return append(base, own...), true
}

// base returns the layered files of the set named name, which the file at `at` extends.
func (c *compiler) base(name, at string, bases Bases, chain []string) ([]namedFile, bool) {
	atFile, line := splitAt(at)
	if slices.Contains(chain, name) {
		c.errorf(atFile, line, "extends: %q: a cycle (%s → %s)", name, strings.Join(chain, " → "), name)
		return nil, false
	}
	if len(chain) >= maxExtendsDepth {
		c.errorf(atFile, line, "extends: %q: more than %d sets extending each other", name, maxExtendsDepth)
		return nil, false
	}
	var srcs []Source
	switch {
	case name == BaseBuiltin:
		srcs = []Source{{Name: DefaultSource, Data: defaultRules}}
	case bases != nil:
		var err error
		if srcs, err = bases(name); err != nil {
			c.errorf(atFile, line, "extends: %q: %v", name, err)
			return nil, false
		}
	default:
		c.errorf(atFile, line, "extends: %q: %v: want %q (the built-in set)", name, ErrUnknownBase, BaseBuiltin)
		return nil, false
	}
	return c.layered(srcs, bases, append(slices.Clone(chain), name))
}

// splitAt splits "file:line".
func splitAt(at string) (string, int) {
	i := strings.LastIndexByte(at, ':')
	n, _ := strconv.Atoi(at[i+1:])
	return at[:i], n
}

// yamlErrorLine finds the line in a YAML syntax error ("yaml: line 5: did not find expected key").
func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		rest := msg[i+len("line "):]
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				return n, msg[:i] + tail
			}
		}
	}
	return 0, msg
}

// mergeThresholds returns base with over laid on it: each value over gives replaces base's.
func mergeThresholds(base, over *ThresholdsSpec) *ThresholdsSpec {
	switch {
	case base == nil:
		return over
	case over == nil:
		return base
	}
	m := *over
	if m.StepUp == nil {
		m.StepUp = base.StepUp
	}
	if m.Deny == nil {
		m.Deny = base.Deny
	}
	m.Events = make(map[string]*Level, len(base.Events)+len(over.Events))
	for name, l := range base.Events {
		m.Events[name] = l
	}
	for name, l := range over.Events {
		b := m.Events[name]
		if b == nil || l == nil {
			m.Events[name] = l
			continue
		}
		merged := *l
		if merged.StepUp == nil {
			merged.StepUp = b.StepUp
		}
		if merged.Deny == nil {
			merged.Deny = b.Deny
		}
		m.Events[name] = &merged
	}
	return &m
}
