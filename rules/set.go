package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/geo"
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

// Thresholds are the scores from which an event steps up or is denied.
type Thresholds struct {
	StepUp int
	Deny   int
}

func (th Thresholds) valid() bool {
	return th.StepUp > 0 && th.Deny <= 100 && th.StepUp < th.Deny
}

// Rule is one compiled rule. Read-only.
type Rule struct {
	ID          string
	Code        string
	Description string
	Message     string
	Template    *Template // Message with feature values, when it has {placeholders}; nil otherwise
	When        string
	Score       int
	Action      Action
	Shadow      bool      // evaluated and reported, never counted in the decision
	Stuffing    bool      // its firing on a login means a credential-stuffing wave (RiskModel.StuffingRules)
	Tenant      string    // the tenant whose overlay added it; "" for a global rule
	Expires     time.Time // zero: never; else the rule does not apply to events at or after it
	File        string    // where it is written
	Line        int
	expires     int64  // Expires in unix nanoseconds; 0 = never
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

// ExpiredAt reports whether r no longer applies to an event at t (unix nanoseconds).
func (r *Rule) ExpiredAt(t int64) bool { return r.expires != 0 && t >= r.expires }

// Set is a compiled, immutable rule set: the global rules and thresholds, each tenant's view of them, and the
// set's tests.
type Set struct {
	Version    string     // the file's version, else a digest of its content
	Source     string     // where it came from (a path, "built-in")
	Thresholds Thresholds // the global default; see ThresholdsFor for a tenant and event type
	Rules      []Rule     // global rules in file order, then tenants' rules by tenant name
	Tests      []Test     // the set's test cases, run by package ruletest
	Warnings   []string   // what compiled but deserves a look (rules already expired), "file:line: rule …"
	Lists      []string   // the lists its rules refer to with in_list; bit i of list_mask is Lists[i]
	Attributes []string   // the attribute names its rules read with attr(); attr_i holds Attributes[i]
	AttrLists  []AttrList // the (list, attribute) pairs in_list tests; bit i of attr_list_mask is AttrLists[i]
	Signals    RiskModel  // when riskd's view of a user's risk level changes (signals.go)
	Extends    string     // the set it builds on ("builtin"), "" for none
	// TestAddresses is the geography the tests declare for their addresses (addresses.go): the tests see it
	// whatever GeoIP databases they run with. nil when none is declared. Read-only.
	TestAddresses map[netip.Addr]*geo.Info

	global  view
	tenants []tenantView     // by name; read-only after Compile
	byName  map[string]*view // the same, when there are too many tenants to scan
	expiry  bool             // some rule expires
	byID    map[string]int   // rule positions, for exceptions that name rules
}

// tenantView is a tenant's name and view.
type tenantView struct {
	name string
	v    *view
}

// maxScannedTenants is how many tenants view scans before it looks them up in a map instead: comparing a few
// short strings beats hashing one.
const maxScannedTenants = 8

// view is what applies to the events of one tenant, resolved once at compile time.
type view struct {
	index      int                                // position among Set.Tenants(); -1 for the global view
	thresholds [features.NumEventTypes]Thresholds // by event type; [0] for an unknown type
	byEvent    [features.NumEventTypes][]int32    // indexes of the rules that apply, ascending
	status     []Applicability                    // per rule, before event type and expiry
	disabled   []string
}

// Applicability says whether a rule applied to an event, or why not.
type Applicability uint8

// Reasons a rule applies or not.
const (
	Applies     Applicability = iota
	OtherEvent                // the rule is for other event types
	OtherTenant               // the rule belongs to another tenant's overlay
	Disabled                  // the event's tenant disables it
	Expired                   // the event is at or after the rule's expiry
	Suppressed                // an exception suppresses it for this event
)

var applicabilityNames = [...]string{Applies: "applies", OtherEvent: "other event type", OtherTenant: "other tenant",
	Disabled: "disabled for this tenant", Expired: "expired", Suppressed: "suppressed by an exception"}

// String returns a short phrase for a.
func (a Applicability) String() string { return applicabilityNames[a] }

// Input is what evaluation needs of an event besides its feature vector.
type Input struct {
	Type   features.EventType
	Tenant string // the view to use; a tenant without an overlay sees the global view
	Time   int64  // event time, unix nanoseconds, for rule expiry; 0 ignores expiry
	// Suppress, when not nil, has one entry per rule: true skips the rule (an exception suppresses it).
	Suppress []bool
}

// view returns the view of tenant, without allocating.
func (s *Set) view(tenant string) *view {
	if s.byName != nil {
		if v, ok := s.byName[tenant]; ok {
			return v
		}
		return &s.global
	}
	for i := range s.tenants {
		if s.tenants[i].name == tenant {
			return s.tenants[i].v
		}
	}
	return &s.global
}

// Applies reports whether rule i of s applies to an event of in, or why not.
func (s *Set) Applies(i int, in Input) Applicability {
	v := s.view(in.Tenant)
	if st := v.status[i]; st != Applies {
		return st
	}
	r := &s.Rules[i]
	if !r.AppliesTo(eventIndex(in.Type)) {
		return OtherEvent
	}
	if in.Time != 0 && r.ExpiredAt(in.Time) {
		return Expired
	}
	if in.Suppress != nil && in.Suppress[i] {
		return Suppressed
	}
	return Applies
}

// TenantIndex returns the position of tenant among Tenants(), or -1 when it has no overlay (it sees the
// global view). It allocates nothing, so the request path may use it, e.g. to find a per-tenant counter
// prepared when the set went live.
func (s *Set) TenantIndex(tenant string) int { return s.view(tenant).index }

// ThresholdsFor returns the thresholds for events of type t of tenant.
func (s *Set) ThresholdsFor(tenant string, t features.EventType) Thresholds {
	return s.view(tenant).thresholds[eventIndex(t)]
}

// Tenants lists the tenants with an overlay, sorted.
func (s *Set) Tenants() []string {
	out := make([]string, 0, len(s.tenants))
	for _, t := range s.tenants {
		out = append(out, t.name)
	}
	return out
}

// Disabled lists the global rules tenant switches off.
func (s *Set) Disabled(tenant string) []string { return s.view(tenant).disabled }

// HasExpiry reports whether some rule of s expires: only then does evaluation need the event time.
func (s *Set) HasExpiry() bool { return s.expiry }

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

// eventIndex maps t into the views' arrays: an out-of-range type uses slot 0, where only rules for every event
// type and the default thresholds apply.
func eventIndex(t features.EventType) features.EventType {
	if t >= features.NumEventTypes {
		return 0
	}
	return t
}

// ErrCompile is returned (wrapped) when a rule file does not compile.
var ErrCompile = errors.New("rule compile error")

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Expression limits: a rule is a predicate over one event, not a program.
const (
	maxExprNodes = 500
	maxRules     = 4096
	maxTests     = 4096
)

// Source is the content of one rule file and the name errors give it.
type Source struct {
	Name string
	Data []byte
}

// Compile parses and compiles a rule file. source names it in errors (a path, "built-in"). The file may be a
// YAML stream of several documents (separated by ---): each is one file of the set, as if loaded from a
// directory. All errors are reported together, each as "source:line: rule "id": what is wrong".
func Compile(source string, data []byte) (*Set, error) {
	return CompileSources(source, []Source{{Name: source, Data: data}})
}

// CompileSources parses the files srcs and compiles them as one set named name: global rules concatenated in
// order, tenant overlays merged per tenant, tests concatenated. At most one file may give version and the
// global thresholds, and a tenant's disable, thresholds and rules may each come from one file only. A file
// that extends the built-in set builds on it (extends.go).
func CompileSources(name string, srcs []Source) (*Set, error) {
	return CompileSourcesWith(name, srcs, nil)
}

// CompileSourcesWith is CompileSources resolving `extends:` with bases (nil: only the built-in set).
func CompileSourcesWith(name string, srcs []Source, bases Bases) (*Set, error) {
	c := newCompiler(time.Now())
	files, ok := c.layered(srcs, bases, nil)
	if !ok {
		return nil, c.err()
	}
	s, err := c.compileFiles(name, files)
	if err != nil {
		return nil, err
	}
	if s.Version == "" {
		h := sha256.New()
		if s.Extends != "" {
			// The digest of an extension changes with its base.
			for _, nf := range files {
				if nf.f.Version != "" && nf.layer < files[len(files)-1].layer {
					h.Write([]byte(nf.f.Version + "\x00"))
				}
			}
		}
		for _, src := range srcs {
			if len(srcs) > 1 {
				h.Write([]byte(src.Name + "\x00"))
			}
			h.Write(src.Data)
		}
		s.Version = "sha256:" + hex.EncodeToString(h.Sum(nil)[:6])
	}
	return s, nil
}

type namedFile struct {
	name  string
	f     *File
	layer int // 0: the deepest base; one more per extends (extends.go)
}

// compiler collects everything wrong with a set, so an analyst sees all of it at once.
type compiler struct {
	errs     []compileError
	warnings []string
	nc       *nativeCompiler
	seen     map[string]ruleRef // by id, over global and tenant rules
	now      time.Time
	noGlobal bool // the global thresholds are missing (reported once)
	lists    listIndex
	cost     uint64 // the rules' cost bounds, summed (see checkCost)
}

// ruleRef is where a rule id was first seen.
type ruleRef struct {
	file, tenant string
	line         int
}

// compileError is one thing wrong, where the analyst wrote it.
type compileError struct {
	file string
	line int // 0: the file (or set) as a whole
	msg  string
}

func (c *compiler) errorf(file string, line int, format string, args ...any) {
	e := compileError{file, line, fmt.Sprintf(format, args...)}
	if !slices.Contains(c.errs, e) {
		c.errs = append(c.errs, e)
	}
}

// maxReportedErrors bounds the errors one compile reports; the first ones, in file and line order, are what
// an analyst fixes first.
const maxReportedErrors = 200

// err returns every error (up to maxReportedErrors), in file and line order, as one error wrapping ErrCompile.
func (c *compiler) err() error {
	slices.SortStableFunc(c.errs, func(a, b compileError) int {
		if a.file != b.file {
			return strings.Compare(a.file, b.file)
		}
		return a.line - b.line
	})
	var b strings.Builder
	for i, e := range c.errs {
		if i == maxReportedErrors {
			// A body of nothing but misspelt keys would otherwise answer with an error many times its size.
			fmt.Fprintf(&b, "\n… and %d more errors", len(c.errs)-i)
			break
		}
		b.WriteByte('\n')
		b.WriteString(e.file)
		if e.line > 0 {
			fmt.Fprintf(&b, ":%d", e.line)
		}
		b.WriteString(": ")
		b.WriteString(e.msg)
	}
	return fmt.Errorf("%w:%s", ErrCompile, b.String())
}

// overlay is one tenant's overlay merged from every file that names the tenant.
type overlay struct {
	name                        string
	disable                     []fileRef
	thresholds                  *ThresholdsSpec
	rules                       []fileSpec
	disableFile, thresholdsFile string // where each part comes from (the highest layer's)
	rulesFile                   string
	disableLayer, thLayer       int
	rulesLayer                  int
}

// fileRef is a rule id and the file it is written in.
type fileRef struct {
	Ref
	file string
}

// fileSpec is a rule spec and the file it is written in.
type fileSpec struct {
	file string
	spec *Spec
}

func newCompiler(now time.Time) *compiler {
	return &compiler{nc: newNativeCompiler(), seen: map[string]ruleRef{}, now: now}
}

func (c *compiler) compileFiles(source string, files []namedFile) (*Set, error) {
	set := &Set{Source: source}

	// The set-wide keys: one file of a layer gives them; a higher layer replaces (thresholds: merges into) a
	// lower one's.
	var versionFile, thFile string
	versionLayer, thLayer := -1, -1
	var globalTh *ThresholdsSpec
	for _, nf := range files {
		if nf.f.Extends != "" {
			set.Extends = nf.f.Extends
		}
		if nf.f.Version != "" {
			if versionLayer == nf.layer {
				c.errorf(nf.name, nf.f.keys.line("version", 0), "version: also given in %s; give it in one file", versionFile)
			} else {
				set.Version, versionFile, versionLayer = nf.f.Version, nf.name, nf.layer
			}
		}
		if nf.f.Thresholds != nil {
			if thLayer == nf.layer {
				c.errorf(nf.name, nf.f.Thresholds.Line, "thresholds: also given in %s; give the global thresholds in one file", thFile)
			} else {
				globalTh, thFile, thLayer = mergeThresholds(globalTh, nf.f.Thresholds), nf.name, nf.layer
			}
		}
	}
	if len(files) > 0 && versionLayer < files[len(files)-1].layer {
		// The base's version does not name the extended set: a digest of both does (CompileSourcesWith).
		set.Version = ""
	}
	removed := c.removedRules(files)

	// Global rules, then each tenant's own in tenant order, so that a tenant's rules sit together.
	total := 0
	for _, nf := range files {
		total += len(nf.f.Rules)
		for _, ov := range nf.f.Tenants {
			if ov != nil {
				total += len(ov.Rules)
			}
		}
	}
	if total > maxRules {
		c.errorf(source, 0, "%d rules, at most %d", total, maxRules)
		return nil, c.err()
	}
	set.Rules = make([]Rule, 0, total)
	for _, nf := range files {
		for i := range nf.f.Rules {
			if removed[nf.f.Rules[i].ID] > nf.layer {
				continue // replaced or removed by a set extending this one
			}
			c.rule(set, nf.name, &nf.f.Rules[i], "")
		}
	}
	overlays := c.mergeOverlays(files, removed)
	for _, ov := range overlays {
		for _, r := range ov.rules {
			c.rule(set, r.file, r.spec, ov.name)
		}
	}

	c.signals(set, files)

	// Views: thresholds per event type and the rules that apply, per tenant.
	switch {
	case thFile == "":
		c.errorf(source, 0, "thresholds: missing: give step_up and deny (e.g. thresholds: {step_up: 40, deny: 80})")
		globalTh, c.noGlobal = &ThresholdsSpec{}, true
	case globalTh.StepUp == nil || globalTh.Deny == nil:
		c.errorf(thFile, globalTh.Line, "thresholds: the global thresholds need both step_up and deny")
		c.noGlobal = true
	}
	c.checkThresholds(thFile, globalTh, "thresholds")
	set.Thresholds = resolveThresholds(globalTh, nil, 0)
	set.global = c.buildView(set, "", nil, globalTh, nil, thFile)
	set.global.index = -1
	if len(overlays) > maxScannedTenants {
		set.byName = make(map[string]*view, len(overlays))
	}
	for _, ov := range overlays {
		disabled := c.checkDisable(ov)
		if ov.thresholds != nil {
			c.checkThresholds(ov.thresholdsFile, ov.thresholds, fmt.Sprintf("tenant %q: thresholds", ov.name))
		}
		v := c.buildView(set, ov.name, disabled, globalTh, ov, thFile)
		v.index = len(set.tenants)
		set.tenants = append(set.tenants, tenantView{ov.name, &v})
		if set.byName != nil {
			set.byName[ov.name] = &v
		}
	}
	for i := range set.Rules {
		set.expiry = set.expiry || set.Rules[i].expires != 0
	}

	// Tests. They run on every reload, so their total size is bounded like the rules'.
	names := map[string]string{}
	steps := 0
	dropped := c.droppedTests(files)
	for _, nf := range files {
		for i := range nf.f.Tests {
			sp := &nf.f.Tests[i]
			if dropped[sp.Name] > nf.layer {
				continue // replaced or dropped by a set extending this one
			}
			if len(set.Tests) >= maxTests {
				c.errorf(nf.name, sp.Line, "more than %d tests", maxTests)
				break
			}
			t, errs := compileTest(sp, nf.name)
			for _, e := range errs {
				c.errorf(nf.name, e.line, "test %q: %s", sp.Name, e.msg)
			}
			if prev, dup := names[sp.Name]; dup && sp.Name != "" {
				c.errorf(nf.name, sp.Line, "test %q: duplicate name (first at %s)", sp.Name, prev)
			} else {
				names[sp.Name] = fmt.Sprintf("%s:%d", nf.name, sp.Line)
			}
			if len(errs) == 0 {
				set.Tests = append(set.Tests, t)
				steps += t.Steps()
			}
		}
	}

	set.TestAddresses = c.compileAddresses(files)
	if steps > maxTestSteps {
		c.errorf(source, 0, "tests: %d events and outcomes to replay in all, at most %d", steps, maxTestSteps)
	}
	if c.cost > maxSetCost {
		c.errorf(source, 0, "rules: up to %d steps per event in all, at most %d: some rules are too costly together", c.cost, maxSetCost)
	} else if work := satMul(uint64(steps), c.cost); work > maxTestWork {
		c.errorf(source, 0, "tests: %d events to replay through up to %d steps per event, %d in all, at most %d: fewer events or cheaper rules",
			steps, c.cost, work, uint64(maxTestWork))
	}
	if len(c.errs) > 0 {
		return nil, c.err()
	}
	set.Warnings = c.warnings
	set.Lists = c.lists.names
	set.Attributes, set.AttrLists = c.lists.attrs.names, c.lists.attrs.pairs
	set.byID = make(map[string]int, len(set.Rules))
	for i := range set.Rules {
		set.byID[set.Rules[i].ID] = i
	}
	return set, nil
}

// mergeOverlays merges the tenants of every file into one overlay per tenant, sorted by name. A part (disable,
// thresholds, rules) given for the same tenant in two files of one layer is an error: which one wins would be
// an accident of file names. A higher layer (a set extending another) adds to the lower one's disable list,
// merges into its thresholds, and replaces its rules by id or adds to them. removed are the global rules a
// higher layer removed or replaced (removedRules): a base tenant's disable of a removed rule goes with it.
func (c *compiler) mergeOverlays(files []namedFile, removed map[string]int) []*overlay {
	byName := map[string]*overlay{}
	var out []*overlay
	for _, nf := range files {
		names := make([]string, 0, len(nf.f.Tenants))
		for name := range nf.f.Tenants {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			ov := nf.f.Tenants[name]
			line := nf.f.keys.line("tenants", 0)
			if ov != nil {
				line = ov.Line
			}
			if !ValidTenant(name) {
				c.errorf(nf.name, line, "tenant %q: a tenant name has 1 to 64 letters, digits, '_', '-' or '.'", name)
				continue
			}
			m := byName[name]
			if m == nil {
				m = &overlay{name: name, disableLayer: -1, thLayer: -1, rulesLayer: -1}
				byName[name] = m
				out = append(out, m)
			}
			if ov == nil {
				continue
			}
			// part says whether a part given in nf may be taken, and whether it layers over a lower one's.
			part := func(what string, given bool, prev *string, prevLayer *int, partLine int) (ok, over bool) {
				if !given {
					return false, false
				}
				if *prev != "" && *prevLayer == nf.layer {
					c.errorf(nf.name, partLine, "tenant %q: %s: also given in %s; give each part of a tenant's overlay in one file", name, what, *prev)
					return false, false
				}
				over = *prev != ""
				*prev, *prevLayer = nf.name, nf.layer
				return true, over
			}
			if ok, _ := part("disable", len(ov.Disable) > 0, &m.disableFile, &m.disableLayer, ov.keys.line("disable", line)); ok {
				for _, ref := range ov.Disable {
					if removed[ref.ID] > nf.layer {
						continue // the rule is gone from the set, and so is its disabling
					}
					m.disable = append(m.disable, fileRef{ref, nf.name})
				}
			}
			if ok, _ := part("thresholds", ov.Thresholds != nil, &m.thresholdsFile, &m.thLayer, ov.keys.line("thresholds", line)); ok {
				m.thresholds = mergeThresholds(m.thresholds, ov.Thresholds)
			}
			if ok, over := part("rules", len(ov.Rules) > 0, &m.rulesFile, &m.rulesLayer, ov.keys.line("rules", line)); ok {
				if over {
					m.rules = slices.DeleteFunc(m.rules, func(r fileSpec) bool {
						return slices.ContainsFunc(ov.Rules, func(s Spec) bool { return s.ID == r.spec.ID })
					})
				}
				for i := range ov.Rules {
					m.rules = append(m.rules, fileSpec{nf.name, &ov.Rules[i]})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b *overlay) int { return strings.Compare(a.name, b.name) })
	return out
}

// removedRules returns, by id, the layer above which a global rule is removed: the highest layer that
// replaces it (a rule of the same id) or removes it (disable:). A rule of a lower layer than that is not
// compiled. A disable that names no global rule of a lower layer is an error, and so is one that names a rule
// of its own layer.
func (c *compiler) removedRules(files []namedFile) map[string]int {
	return c.removals(files, removal{
		clause: "disable", noun: "rule",
		names: func(f *File) []string { return ruleIDs(f.Rules) },
		refs:  func(f *File) []Ref { return f.Disable },
		// A rule cannot be both defined and removed by one layer: which one wins would be a guess.
		ownLayer: definedIn,
	})
}

// droppedTests returns, by name, the layer above which a test is not run: replaced by a test of the same name
// in a higher layer, or dropped by its disable_tests. A name disable_tests gives that no test of a lower
// layer has is an error (a misspelt name would otherwise leave the test running).
func (c *compiler) droppedTests(files []namedFile) map[string]int {
	return c.removals(files, removal{
		clause: "disable_tests", noun: "test",
		names: func(f *File) []string { return testNames(f.Tests) },
		refs:  func(f *File) []Ref { return f.DropTests },
	})
}

// removal is one kind of item a layer of a set can replace (by defining one of the same name) or remove (by
// naming it in a clause).
type removal struct {
	clause, noun string
	names        func(f *File) []string
	refs         func(f *File) []Ref
	// ownLayer, when set, reports a removal of an item its own layer defines, which is an error.
	ownLayer func(files []namedFile, layer int, name string) bool
}

// removals returns, by name, the layer above which an item of kind r is gone, and reports each clause entry
// that names no item of a lower layer.
func (c *compiler) removals(files []namedFile, r removal) map[string]int {
	gone := map[string]int{}
	for _, nf := range files {
		if nf.layer == 0 {
			continue
		}
		for _, name := range r.names(nf.f) {
			gone[name] = max(gone[name], nf.layer) // replaced: the higher layer's item wins
		}
	}
	for _, nf := range files {
		for _, ref := range r.refs(nf.f) {
			below := slices.ContainsFunc(files, func(b namedFile) bool {
				return b.layer < nf.layer && slices.Contains(r.names(b.f), ref.ID)
			})
			switch {
			case !below:
				c.errorf(nf.name, ref.Line, "%s: no %s %q in the set this one extends", r.clause, r.noun, ref.ID)
			case r.ownLayer != nil && r.ownLayer(files, nf.layer, ref.ID):
				c.errorf(nf.name, ref.Line, "%s: %q is also a %s of this set; remove it or the %s", r.clause, ref.ID, r.noun, r.clause)
			default:
				gone[ref.ID] = max(gone[ref.ID], nf.layer+1) // above every layer up to this one's
			}
		}
	}
	return gone
}

// ruleIDs returns the ids of rules.
func ruleIDs(rules []Spec) []string {
	ids := make([]string, len(rules))
	for i := range rules {
		ids[i] = rules[i].ID
	}
	return ids
}

// testNames returns the names of tests.
func testNames(tests []TestSpec) []string {
	names := make([]string, len(tests))
	for i := range tests {
		names[i] = tests[i].Name
	}
	return names
}

// definedIn reports whether a file of layer defines the global rule id.
func definedIn(files []namedFile, layer int, id string) bool {
	for _, nf := range files {
		if nf.layer == layer && slices.ContainsFunc(nf.f.Rules, func(s Spec) bool { return s.ID == id }) {
			return true
		}
	}
	return false
}

// rule compiles one rule spec of file into set; tenant is "" for a global rule.
func (c *compiler) rule(set *Set, file string, sp *Spec, tenant string) {
	if !idPattern.MatchString(sp.ID) {
		c.errorf(file, sp.Line, "rule %q: id must match %s", sp.ID, idPattern)
		return
	}
	if prev, dup := c.seen[sp.ID]; dup {
		where := fmt.Sprintf("line %d", prev.line)
		if prev.file != file {
			where = fmt.Sprintf("%s:%d", prev.file, prev.line)
		}
		switch {
		case tenant != "" && prev.tenant == "":
			c.errorf(file, sp.Line, "rule %q: tenant %q: clashes with the global rule at %s; rule ids are unique in a set, tenants' rules included", sp.ID, tenant, where)
		default:
			c.errorf(file, sp.Line, "rule %q: duplicate id (first at %s)", sp.ID, where)
		}
		return
	}
	// Seen even if it does not compile, so that a tenant disabling it is not told it does not exist.
	c.seen[sp.ID] = ruleRef{file: file, tenant: tenant, line: sp.Line}
	r, err := c.compileRule(sp)
	if err != nil {
		line := sp.Line
		if ke, ok := err.(*keyError); ok {
			line = ke.line(sp)
		}
		c.errorf(file, line, "rule %q: %v", sp.ID, err)
		return
	}
	r.Tenant, r.File, r.Line = tenant, file, sp.Line
	if r.expires != 0 && !c.now.Before(r.Expires) {
		c.warnings = append(c.warnings, fmt.Sprintf("%s:%d: rule %q: expired at %s: it no longer applies to events after that time",
			file, sp.Line, sp.ID, r.Expires.Format(time.RFC3339)))
	}
	set.Rules = append(set.Rules, r)
}

func (c *compiler) compileRule(sp *Spec) (Rule, error) {
	r := Rule{ID: sp.ID, Code: sp.Code, Description: sp.Description, Message: sp.Reason, When: sp.When}
	if r.Code == "" {
		r.Code = sp.ID
	}
	if r.Message == "" {
		r.Message = sp.Description
	}
	t, err := parseTemplate(r.Message)
	if err != nil {
		key := "reason"
		if sp.Reason == "" {
			key = "description"
		}
		return r, &keyError{key, err}
	}
	r.Template = t
	switch {
	case sp.Score != nil && sp.Action != "":
		return r, &keyError{"action", errors.New("has both score and action; give one")}
	case sp.Score != nil:
		if *sp.Score < -100 || *sp.Score > 100 {
			return r, &keyError{"score", fmt.Errorf("score %d out of range -100..100", *sp.Score)}
		}
		r.Score = *sp.Score
	case sp.Action != "":
		a, ok := ParseAction(sp.Action)
		if !ok {
			return r, &keyError{"action", fmt.Errorf("action %q: want allow, step_up or deny", sp.Action)}
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
		return r, &keyError{"mode", fmt.Errorf("mode %q: want enforce or shadow", sp.Mode)}
	}
	for _, e := range sp.Events {
		t, ok := features.ParseEventType(e)
		if !ok {
			return r, &keyError{"events", fmt.Errorf("events: unknown event type %q", e)}
		}
		r.events |= 1 << t
	}
	if sp.Expires != "" {
		t, err := parseExpiry(sp.Expires)
		if err != nil {
			return r, &keyError{"expires", err}
		}
		r.Expires, r.expires = t, expiryNanos(t)
	}
	if strings.TrimSpace(sp.When) == "" {
		return r, &keyError{"when", errors.New("when: empty expression")}
	}
	if len(sp.When) > maxWhenBytes {
		return r, &keyError{"when", fmt.Errorf("when: %d bytes, at most %d: a rule is a predicate over one event", len(sp.When), maxWhenBytes)}
	}
	p, cost, err := compileWhen(sp.When, &c.lists)
	if err != nil {
		return r, &keyError{"when", fmt.Errorf("when: %w", err)}
	}
	c.cost = satAdd(c.cost, cost)
	r.program = p
	r.native = c.nc.compile(p.Node())
	return r, nil
}

// keyError is an error about the value of one key of a rule, reported at that key's line.
type keyError struct {
	key string
	err error
}

func (e *keyError) Error() string { return e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// line returns the line of the file the error is about: the key's, or, for an expression error in a literal
// block, the line of the expression it points at.
func (e *keyError) line(sp *Spec) int {
	var fe *file.Error
	if e.key == "when" && errors.As(e.err, &fe) && fe.Line > 0 {
		return sp.keys.valueLine("when", fe.Line, sp.Line)
	}
	return sp.keys.line(e.key, sp.Line)
}

// expiryNanos is t in unix nanoseconds for comparing with event times, saturated where UnixNano would
// overflow (before 1678, after 2262), and never 0, which means no expiry.
func expiryNanos(t time.Time) int64 {
	switch {
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.UnixNano() == 0:
		return -1
	}
	return t.UnixNano()
}

// parseExpiry reads an RFC 3339 time, or a date meaning its midnight UTC.
func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("expires %q: want an RFC 3339 time such as 2026-12-31T00:00:00Z", s)
}

// checkThresholds checks the values and event names of one thresholds block; whether the resolved pairs make
// sense is buildView's concern.
func (c *compiler) checkThresholds(file string, ts *ThresholdsSpec, what string) {
	value := func(line int, name string, v *int, event string) {
		if v != nil && (*v < 1 || *v > 100) {
			if event != "" {
				name = event + "." + name
			}
			c.errorf(file, line, "%s: %s %d: want 1..100", what, name, *v)
		}
	}
	value(ts.Line, "step_up", ts.StepUp, "")
	value(ts.Line, "deny", ts.Deny, "")
	for _, name := range sortedKeys(ts.Events) {
		l := ts.Events[name]
		line := ts.Line
		if l != nil {
			line = l.Line
		}
		if _, ok := features.ParseEventType(name); !ok {
			c.errorf(file, line, "%s: events: unknown event type %q (want one of %s)", what, name, eventNames())
			continue
		}
		if l != nil {
			value(line, "step_up", l.StepUp, name)
			value(line, "deny", l.Deny, name)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// eventLevel returns the thresholds ts gives for event type t, or nil.
func eventLevel(ts *ThresholdsSpec, t features.EventType) *Level {
	if ts == nil || t == 0 {
		return nil
	}
	return ts.Events[t.String()]
}

// resolveThresholds resolves the thresholds of event type t: each value is the first given of the tenant's
// for t, the tenant's default, the global one for t, the global default. An overlay is the tenant's own
// word, so it wins over everything it inherits.
func resolveThresholds(global, tenant *ThresholdsSpec, t features.EventType) Thresholds {
	var layers [4]*Level
	if tenant != nil {
		layers[0] = eventLevel(tenant, t)
		layers[1] = &Level{StepUp: tenant.StepUp, Deny: tenant.Deny}
	}
	layers[2] = eventLevel(global, t)
	if global != nil {
		layers[3] = &Level{StepUp: global.StepUp, Deny: global.Deny}
	}
	var th Thresholds
	var haveStep, haveDeny bool
	for _, l := range layers {
		if l == nil {
			continue
		}
		if !haveStep && l.StepUp != nil {
			th.StepUp, haveStep = *l.StepUp, true
		}
		if !haveDeny && l.Deny != nil {
			th.Deny, haveDeny = *l.Deny, true
		}
	}
	return th
}

// checkDisable resolves a tenant's disable list against the global rules.
func (c *compiler) checkDisable(ov *overlay) map[string]bool {
	disabled := map[string]bool{}
	for _, ref := range ov.disable {
		r, ok := c.seen[ref.ID]
		switch {
		case !ok:
			c.errorf(ref.file, ref.Line, "tenant %q: disable: no rule %q in the set", ov.name, ref.ID)
		case r.tenant != "":
			c.errorf(ref.file, ref.Line, "tenant %q: disable: %q is tenant %q's rule, not a global one", ov.name, ref.ID, r.tenant)
		default:
			disabled[ref.ID] = true
		}
	}
	return disabled
}

// buildView resolves what applies to the events of tenant ("" for the global view): the rules, and the
// thresholds per event type, which must make sense for every event type.
func (c *compiler) buildView(set *Set, tenant string, disabled map[string]bool, global *ThresholdsSpec, ov *overlay, globalFile string) view {
	var v view
	v.status = make([]Applicability, len(set.Rules))
	for i := range set.Rules {
		r := &set.Rules[i]
		switch {
		case r.Tenant != "" && r.Tenant != tenant:
			v.status[i] = OtherTenant
		case disabled[r.ID]:
			v.status[i] = Disabled
			v.disabled = append(v.disabled, r.ID)
		}
	}
	var tenantTh *ThresholdsSpec
	if ov != nil {
		tenantTh = ov.thresholds
	}
	for t := features.EventType(0); t < features.NumEventTypes; t++ {
		for i := range set.Rules {
			if v.status[i] == Applies && set.Rules[i].AppliesTo(t) {
				v.byEvent[t] = append(v.byEvent[t], int32(i))
			}
		}
		th := resolveThresholds(global, tenantTh, t)
		v.thresholds[t] = th
		if th.valid() || c.noGlobal {
			continue
		}
		// Report the error where the analyst wrote the offending value: the most specific block that gives one.
		file, line, what := globalFile, 0, "thresholds"
		if global != nil {
			line = global.Line
		}
		if l := eventLevel(global, t); l != nil {
			line, what = l.Line, "thresholds for "+t.String()
		}
		if tenantTh != nil {
			if th == resolveThresholds(global, nil, t) {
				continue // inherited as is: reported for the global view
			}
			file, line, what = ov.thresholdsFile, tenantTh.Line, fmt.Sprintf("tenant %q: thresholds", tenant)
			if l := eventLevel(tenantTh, t); l != nil {
				line, what = l.Line, fmt.Sprintf("tenant %q: thresholds for %s", tenant, t)
			}
		} else if tenant != "" {
			continue
		}
		c.errorf(file, line, "%s: want 0 < step_up < deny <= 100, got step_up=%d deny=%d", what, th.StepUp, th.Deny)
	}
	return v
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

// compileWhen compiles a rule's expression for the VM: parsed, type-checked against the vector, optimised, and
// held to the allow-list and cost bound of checkCost, which it returns.
func compileWhen(src string, lists *listIndex) (*vm.Program, uint64, error) {
	if lists == nil {
		lists = &listIndex{}
	}
	lp := &listPatcher{lists: lists}
	p, err := expr.Compile(src,
		expr.Env(features.Vector{}),
		expr.AsBool(),
		expr.MaxNodes(maxExprNodes),
		// Rules run on event time; a wall-clock builtin would make backtests disagree with live traffic.
		expr.DisableBuiltin("now"),
		expr.Patch(lp),
		distanceHelper,
	)
	if lp.err != nil {
		return nil, 0, lp.err
	}
	if err != nil {
		return nil, 0, err
	}
	cost, err := checkCost(src, p.Node())
	if err != nil {
		return nil, 0, err
	}
	return p, cost, nil
}
