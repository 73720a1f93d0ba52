package ruletest

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/rules"
)

// Options configure a run.
type Options struct {
	// Geo locates the cases' addresses; nil runs without geo data (every geo feature empty). Run only reads it:
	// pass the serving engine's databases (Extractor().Geo()) to test a set against what it will see.
	Geo *geo.DB
	// Now is the clock relative timestamps count from, unless a case sets its own; default time.Now.
	Now func() time.Time
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	Name   string
	File   string
	Line   int
	Passed bool
	Expect string // the expectation, as text

	// What happened: the decision on the case's `when` event (empty when the case could not get that far).
	Decision string
	Score    int
	Reasons  []string // reason codes, in the order of the answer

	Problems []string // what did not match, or why the case could not run
}

// Report is the outcome of a set's tests.
type Report struct {
	Source         string
	Cases          []CaseResult
	Passed, Failed int
}

// ErrFailed is returned (wrapped, by Report.Err) when some case failed.
var ErrFailed = errors.New("rule tests failed")

// OK reports whether every case passed.
func (r *Report) OK() bool { return r.Failed == 0 }

// Err returns nil when every case passed, else an error wrapping ErrFailed that lists each failed case with
// what went wrong, one line each.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d tests failed:", r.Failed, len(r.Cases))
	for i := range r.Cases {
		c := &r.Cases[i]
		if !c.Passed {
			fmt.Fprintf(&b, "\n%s:%d: test %q: %s", c.File, c.Line, c.Name, strings.Join(c.Problems, "; "))
		}
	}
	return fmt.Errorf("%w: %s", ErrFailed, b.String())
}

// WriteText writes the report for people: one line per case (✓ or ✗), and under each failed case what was
// expected, what happened and why they differ.
func (r *Report) WriteText(w io.Writer) {
	var b strings.Builder
	if len(r.Cases) == 0 {
		fmt.Fprintf(&b, "%s: no tests\n", r.Source)
		io.WriteString(w, b.String())
		return
	}
	for i := range r.Cases {
		c := &r.Cases[i]
		mark := "✓"
		if !c.Passed {
			mark = "✗"
		}
		fmt.Fprintf(&b, "  %s %s (%s:%d)\n", mark, c.Name, c.File, c.Line)
		if c.Passed {
			continue
		}
		fmt.Fprintf(&b, "      want: %s\n", c.Expect)
		if c.Decision != "" {
			fmt.Fprintf(&b, "      got:  %s\n", c.Got())
		}
		for _, p := range c.Problems {
			fmt.Fprintf(&b, "      - %s\n", p)
		}
	}
	fmt.Fprintf(&b, "%d passed, %d failed\n", r.Passed, r.Failed)
	io.WriteString(w, b.String())
}

// Got describes what happened: "decision step_up, score 45, reasons new_country, new_device".
func (c *CaseResult) Got() string {
	reasons := "none"
	if len(c.Reasons) > 0 {
		reasons = strings.Join(c.Reasons, ", ")
	}
	return fmt.Sprintf("decision %s, score %d, reasons %s", c.Decision, c.Score, reasons)
}

// stateKeys bounds each velocity table of a case's state: a case holds a handful of users, addresses and
// devices, and a small table is cheap to make once per case.
const stateKeys = 1 << 12

// Run runs every test of set and reports on each. It never changes set or opt.Geo.
func Run(set *rules.Set, opt Options) *Report {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	rep := &Report{Source: set.Source, Cases: make([]CaseResult, 0, len(set.Tests))}
	known := knownReasons(set)
	if set.TestAddresses != nil {
		// The addresses the set declares are where it says, whatever the databases say; the rest are looked up.
		opt.Geo = opt.Geo.WithFixed(set.TestAddresses)
	}
	for i := range set.Tests {
		c := runCase(set, &set.Tests[i], known, opt)
		if c.Passed {
			rep.Passed++
		} else {
			rep.Failed++
		}
		rep.Cases = append(rep.Cases, c)
	}
	return rep
}

// knownReasons is every name an expectation may use: rule codes and ids, and the engine's policy codes.
func knownReasons(set *rules.Set) map[string]bool {
	known := map[string]bool{engine.CodeMFAAlways: true, engine.CodeMFASensitive: true, engine.CodeFailPolicy: true}
	for i := range set.Rules {
		known[set.Rules[i].ID] = true
		known[set.Rules[i].Code] = true
	}
	// Reasons the engine gives besides the rules'.
	for _, code := range []string{engine.CodeException, engine.CodeMFAAlways, engine.CodeMFASensitive, engine.CodeFailPolicy} {
		known[code] = true
	}
	return known
}

func runCase(set *rules.Set, t *rules.Test, known map[string]bool, opt Options) CaseResult {
	c := CaseResult{Name: t.Name, File: t.Source, Line: t.Line, Expect: t.Expect.String()}
	for _, list := range []struct {
		name  string
		codes []string
	}{{"reasons", t.Expect.Reasons}, {"not_reasons", t.Expect.NotReasons}} {
		for _, code := range list.codes {
			if !known[code] {
				// A misspelt not_reasons entry would otherwise pass for ever.
				c.Problems = append(c.Problems, fmt.Sprintf("expect.%s: %q is no rule's code or id in this set", list.name, code))
			}
		}
	}
	if len(c.Problems) > 0 {
		return c
	}

	now := opt.Now()
	if !t.Now.IsZero() {
		now = t.Now
	}
	hasher := features.NewHasher([]byte("ruletest"))
	reg, err := caseLists(t, hasher, now)
	if err != nil {
		c.Problems = append(c.Problems, err.Error())
		return c
	}
	x := features.NewExtractor(hasher, features.NewState(stateKeys), opt.Geo)
	eng, err := engine.New(engine.Config{Extractor: x, Rules: set, Lists: reg, Now: func() time.Time { return now }})
	if err != nil {
		c.Problems = append(c.Problems, err.Error())
		return c
	}
	var d engine.Decision
	for i := range t.Given {
		st := &t.Given[i]
		for n := 1; n <= st.Repeat; n++ {
			if err := replay(eng, st, n, now, &d); err != nil {
				c.Problems = append(c.Problems, fmt.Sprintf("given[%d] (line %d): %v", i, st.Line, err))
				return c
			}
		}
	}
	d.Explain = new(engine.Explanation)
	ev := t.When.Event
	ev.Time = t.When.At.Resolve(now).UnixNano()
	if err := eng.Decide(&ev, &d); err != nil {
		c.Problems = append(c.Problems, fmt.Sprintf("when (line %d): %v", t.When.Line, err))
		return c
	}
	c.Decision, c.Score = d.Action.String(), d.Score
	for _, r := range d.Reasons {
		c.Reasons = append(c.Reasons, r.Code)
	}
	c.Problems = compare(&t.Expect, &d, set)
	c.Passed = len(c.Problems) == 0
	return c
}

// replay decides or records the n-th repetition of a given step.
func replay(eng *engine.Engine, st *rules.Step, n int, now time.Time, d *engine.Decision) error {
	at := st.At.Resolve(now).UnixNano()
	if st.IsOutcome {
		o := st.Outcome
		o.UserID, o.DeviceID = numbered(o.UserID, n), numbered(o.DeviceID, n)
		o.Time = at
		return eng.Record(&o)
	}
	ev := st.Event
	ev.UserID, ev.DeviceID, ev.SessionID, ev.EventID = numbered(ev.UserID, n), numbered(ev.DeviceID, n),
		numbered(ev.SessionID, n), numbered(ev.EventID, n)
	ev.Time = at
	return eng.Decide(&ev, d)
}

// numbered replaces {i} in s with n, so that a repeated step can stand for many users or devices.
func numbered(s string, n int) string {
	if !strings.Contains(s, "{i}") {
		return s
	}
	return strings.ReplaceAll(s, "{i}", strconv.Itoa(n))
}

// compare lists how d differs from x, explaining a missing reason by what happened to its rule.
func compare(x *rules.Expectation, d *engine.Decision, set *rules.Set) []string {
	var problems []string
	if x.Decision != rules.None && d.Action != x.Decision {
		problems = append(problems, fmt.Sprintf("decision is %s, want %s", d.Action, x.Decision))
	}
	has := func(code string) bool {
		for _, r := range d.Reasons {
			if r.Code == code || r.Rule == code {
				return true
			}
		}
		return false
	}
	for _, code := range x.Reasons {
		if !has(code) {
			problems = append(problems, fmt.Sprintf("reason %s is missing%s", code, whyNot(code, d.Explain, set)))
		}
	}
	for _, code := range x.NotReasons {
		if has(code) {
			problems = append(problems, fmt.Sprintf("reason %s is there, want it absent", code))
		}
	}
	switch {
	case x.ScoreMin == x.ScoreMax && d.Score != x.ScoreMin:
		problems = append(problems, fmt.Sprintf("score is %d, want %d", d.Score, x.ScoreMin))
	case d.Score < x.ScoreMin:
		problems = append(problems, fmt.Sprintf("score is %d, want at least %d", d.Score, x.ScoreMin))
	case d.Score > x.ScoreMax:
		problems = append(problems, fmt.Sprintf("score is %d, want at most %d", d.Score, x.ScoreMax))
	}
	return problems
}

// whyNot explains why the rules behind a reason code did not give it: they did not apply to the event (and
// why), applied but did not fire, or are shadow rules, which never give reasons.
func whyNot(code string, x *engine.Explanation, set *rules.Set) string {
	var parts []string
	for i := range x.Rules {
		rr := &x.Rules[i]
		r := &set.Rules[i]
		if r.Code != code && r.ID != code {
			continue
		}
		switch {
		case rr.Skipped:
			parts = append(parts, fmt.Sprintf("rule %s did not apply: %s", r.ID, rr.Why))
		case rr.Shadow && rr.Fired:
			parts = append(parts, fmt.Sprintf("rule %s fired in shadow mode, which gives no reason", r.ID))
		case !rr.Fired:
			parts = append(parts, fmt.Sprintf("rule %s applied but did not fire", r.ID))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// caseLists builds the lists and exceptions a case sets up, on the case's clock.
func caseLists(t *rules.Test, h features.Hasher, now time.Time) (*lists.Registry, error) {
	reg := lists.NewRegistry(lists.Hashers{User: h.User, Device: h.Device}, func() time.Time { return now })
	for name, l := range t.Lists {
		kind, _ := lists.ParseKind(l.Kind)
		entries := make([]lists.Entry, len(l.Entries))
		for i, v := range l.Entries {
			entries[i] = lists.Entry{Value: v}
		}
		if err := reg.Put(name, kind, entries); err != nil {
			return nil, fmt.Errorf("lists: %s: %w", name, err)
		}
	}
	for _, x := range t.Exceptions {
		e := lists.Exception{ID: x.ID, Rules: x.Rules, User: x.User, Device: x.Device, Network: x.Network, ASN: x.ASN,
			Country: x.Country, Tenant: x.Tenant, Expires: x.At.Resolve(now), Note: x.Note}
		if _, err := reg.PutException(e); err != nil {
			return nil, fmt.Errorf("exceptions: %s: %w", x.ID, err)
		}
	}
	return reg, nil
}
