package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/riskd/riskd/features"
)

// Action is a rule's verdict, or the verdict of a whole evaluation.
type Action uint8

// Actions, from weakest to strongest.
const (
	None Action = iota
	Allow
	StepUp
	Deny
)

var actionNames = [...]string{None: "", Allow: "allow", StepUp: "step_up", Deny: "deny"}

// String returns the API name of a.
func (a Action) String() string { return actionNames[a] }

// ParseAction returns the action named s (allow, step_up or deny).
func ParseAction(s string) (Action, bool) {
	for a := Allow; a <= Deny; a++ {
		if actionNames[a] == s {
			return a, true
		}
	}
	return None, false
}

// Rule is one compiled rule. Read-only.
type Rule struct {
	ID          string
	Code        string
	Description string
	Message     string
	When        string
	Score       int
	Action      Action
	Shadow      bool   // evaluated and reported, never counted in the decision
	events      uint16 // bit per features.EventType; 0 = all
	program     *vm.Program
	native      func(*features.Vector) bool // the program as Go closures (native.go); nil: run it on the VM
}

// Native reports whether r is evaluated natively (compiled to Go closures over the vector) rather than on the
// expr VM. Both give the same answers; native is only faster.
func (r *Rule) Native() bool { return r.native != nil }

// AppliesTo reports whether r is evaluated for events of type t.
func (r *Rule) AppliesTo(t features.EventType) bool {
	return r.events == 0 || r.events&(1<<t) != 0
}

// Set is a compiled, immutable rule set.
type Set struct {
	Version    string // the file's version, else a digest of its content
	Source     string // where it came from (a path, "built-in")
	Thresholds Thresholds
	Rules      []Rule
}

// NativeRules counts the rules of s evaluated natively; the others run on the expr VM.
func (s *Set) NativeRules() int {
	n := 0
	for i := range s.Rules {
		if s.Rules[i].native != nil {
			n++
		}
	}
	return n
}

// ErrCompile is returned (wrapped) when a rule file does not compile.
var ErrCompile = errors.New("rule compile error")

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Expression limits: a rule is a predicate over one event, not a program.
const (
	maxExprNodes = 500
	maxRules     = 4096
)

// Compile parses and compiles a rule file. source names it in errors (a path, "built-in"). All errors are
// reported together, each as "source:line: rule "id": what is wrong".
func Compile(source string, data []byte) (*Set, error) {
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	s, err := CompileFile(source, f)
	if err != nil {
		return nil, err
	}
	if s.Version == "" {
		sum := sha256.Sum256(data)
		s.Version = "sha256:" + hex.EncodeToString(sum[:6])
	}
	return s, nil
}

// CompileFile compiles an already decoded rule file.
func CompileFile(source string, f *File) (*Set, error) {
	var errs []string
	fail := func(line int, id, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%s:%d: rule %q: %s", source, line, id, fmt.Sprintf(format, args...)))
	}
	th := f.Thresholds
	if th.StepUp <= 0 || th.Deny <= 0 || th.StepUp > 100 || th.Deny > 100 || th.StepUp >= th.Deny {
		errs = append(errs, fmt.Sprintf("%s: thresholds: want 0 < step_up < deny <= 100, got step_up=%d deny=%d", source, th.StepUp, th.Deny))
	}
	if len(f.Rules) > maxRules {
		errs = append(errs, fmt.Sprintf("%s: %d rules, at most %d", source, len(f.Rules), maxRules))
	}
	set := &Set{Version: f.Version, Source: source, Thresholds: th, Rules: make([]Rule, 0, len(f.Rules))}
	seen := make(map[string]int, len(f.Rules))
	nc := newNativeCompiler()
	for i := range f.Rules {
		sp := &f.Rules[i]
		if !idPattern.MatchString(sp.ID) {
			fail(sp.Line, sp.ID, "id must match %s", idPattern)
			continue
		}
		if prev, dup := seen[sp.ID]; dup {
			fail(sp.Line, sp.ID, "duplicate id (first at line %d)", prev)
			continue
		}
		seen[sp.ID] = sp.Line
		r, err := compileRule(sp, nc)
		if err != nil {
			fail(sp.Line, sp.ID, "%v", err)
			continue
		}
		set.Rules = append(set.Rules, r)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%s", ErrCompile, strings.Join(errs, "\n"))
	}
	return set, nil
}

func compileRule(sp *Spec, nc *nativeCompiler) (Rule, error) {
	r := Rule{ID: sp.ID, Code: sp.Code, Description: sp.Description, Message: sp.Reason, When: sp.When}
	if r.Code == "" {
		r.Code = sp.ID
	}
	if r.Message == "" {
		r.Message = sp.Description
	}
	switch {
	case sp.Score != nil && sp.Action != "":
		return r, errors.New("has both score and action; give one")
	case sp.Score != nil:
		if *sp.Score < -100 || *sp.Score > 100 {
			return r, fmt.Errorf("score %d out of range -100..100", *sp.Score)
		}
		r.Score = *sp.Score
	case sp.Action != "":
		a, ok := ParseAction(sp.Action)
		if !ok {
			return r, fmt.Errorf("action %q: want allow, step_up or deny", sp.Action)
		}
		r.Action = a
	default:
		return r, errors.New("has no effect: give score or action")
	}
	switch sp.Mode {
	case "", "enforce":
	case "shadow":
		r.Shadow = true
	default:
		return r, fmt.Errorf("mode %q: want enforce or shadow", sp.Mode)
	}
	for _, e := range sp.Events {
		t, ok := features.ParseEventType(e)
		if !ok {
			return r, fmt.Errorf("events: unknown event type %q", e)
		}
		r.events |= 1 << t
	}
	if strings.TrimSpace(sp.When) == "" {
		return r, errors.New("when: empty expression")
	}
	p, err := compileWhen(sp.When)
	if err != nil {
		return r, fmt.Errorf("when: %v", err)
	}
	r.program = p
	r.native = nc.compile(p.Node())
	return r, nil
}

// Events lists the event types r applies to; empty means all.
func (r *Rule) Events() []string {
	var out []string
	for t := features.Login; t.String() != ""; t++ {
		if r.events&(1<<t) != 0 {
			out = append(out, t.String())
		}
	}
	return out
}

// compileWhen compiles a rule's expression for the VM: parsed, type-checked against the vector, optimised.
func compileWhen(src string) (*vm.Program, error) {
	return expr.Compile(src,
		expr.Env(features.Vector{}),
		expr.AsBool(),
		expr.MaxNodes(maxExprNodes),
		// Rules run on event time; a wall-clock builtin would make backtests disagree with live traffic.
		expr.DisableBuiltin("now"),
	)
}
