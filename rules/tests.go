package rules

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/riskd/riskd/features"
)

// Tests in rule files. A rule file's `tests:` are cases an analyst writes beside the rules: events (and
// outcomes) to replay, one event to decide, and what the decision must be. This file decodes and checks them
// (their shape is part of the rule file, so a malformed case is a compile error); package ruletest runs them
// through an engine.

// TestSpec is one test case as written.
type TestSpec struct {
	Name       string              `yaml:"name"`
	Now        string              `yaml:"now"`        // optional RFC 3339: the case's clock; default the time of the run
	Lists      map[string]ListSpec `yaml:"lists"`      // lists the case's rules test with in_list
	Exceptions []ExceptionSpec     `yaml:"exceptions"` // exceptions in force during the case
	Given      []EventSpec         `yaml:"given"`
	When       *EventSpec          `yaml:"when"`
	Expect     *ExpectSpec         `yaml:"expect"`

	Line     int `yaml:"-"`
	problems []lineMsg
	keys     keyLines
}

// ListSpec is a list a test case sets up: its kind (ip, asn, country, device, user) and entries.
type ListSpec struct {
	Kind    string   `yaml:"kind"`
	Entries []string `yaml:"entries"`

	problems []lineMsg
}

// UnmarshalYAML decodes a test's list strictly.
func (l *ListSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain ListSpec
	if n.Kind != yaml.MappingNode {
		return shapeError(n.Line, "list must be a mapping")
	}
	l.problems = decodeStrict(n, "list", (*plain)(l))
	return nil
}

// ExceptionSpec is an exception a test case sets up, in the shape of PUT /v1/exceptions/{id}; expires may be
// relative to the case's clock ("+24h").
type ExceptionSpec struct {
	ID      string   `yaml:"id"`
	Rules   []string `yaml:"rules"`
	User    string   `yaml:"user"`
	Device  string   `yaml:"device"`
	Network string   `yaml:"network"`
	ASN     uint32   `yaml:"asn"`
	Country string   `yaml:"country"`
	Tenant  string   `yaml:"tenant"`
	Expires string   `yaml:"expires"`
	Note    string   `yaml:"note"`

	problems []lineMsg
}

// UnmarshalYAML decodes a test's exception strictly.
func (x *ExceptionSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain ExceptionSpec
	if n.Kind != yaml.MappingNode {
		return shapeError(n.Line, "exception must be a mapping")
	}
	x.problems = decodeStrict(n, "exception", (*plain)(x))
	return nil
}

// TestException is a compiled ExceptionSpec.
type TestException struct {
	ExceptionSpec
	At Timestamp // when it expires
}

// EventSpec is an event (type: …) or an outcome (outcome: …) in the shape of the HTTP API, plus repeat.
type EventSpec struct {
	Type             string            `yaml:"type"`
	Outcome          string            `yaml:"outcome"`
	UserID           string            `yaml:"user_id"`
	IP               string            `yaml:"ip"`
	DeviceID         string            `yaml:"device_id"`
	UserAgent        string            `yaml:"user_agent"`
	SessionID        string            `yaml:"session_id"`
	EventID          string            `yaml:"event_id"`
	Tenant           string            `yaml:"tenant"`
	Channel          string            `yaml:"channel"`
	Timestamp        string            `yaml:"timestamp"`
	Amount           *float64          `yaml:"amount"`
	Currency         string            `yaml:"currency"`
	MFAPreference    string            `yaml:"mfa_preference"`
	CredentialsValid *bool             `yaml:"credentials_valid"`
	Attributes       map[string]string `yaml:"attributes"`
	Repeat           int               `yaml:"repeat"` // replay this many times; {i} in ids becomes 1..repeat

	Line     int `yaml:"-"`
	problems []lineMsg
	keys     keyLines
}

// ExpectSpec is what a case's decision must be.
type ExpectSpec struct {
	Decision     string   `yaml:"decision"`
	Reasons      []string `yaml:"reasons"`     // codes (or rule ids) that must all be among the reasons
	NotReasons   []string `yaml:"not_reasons"` // codes (or rule ids) that must not be
	Score        *int     `yaml:"score"`
	ScoreAtLeast *int     `yaml:"score_at_least"`
	ScoreAtMost  *int     `yaml:"score_at_most"`

	Line     int `yaml:"-"`
	problems []lineMsg
	keys     keyLines
}

// UnmarshalYAML decodes a test case strictly.
func (t *TestSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain TestSpec
	what := "test"
	if name := mappingValue(n, "name"); name != "" {
		what = fmt.Sprintf("test %q", name)
	}
	if n.Kind != yaml.MappingNode {
		return shapeError(n.Line, what+" must be a mapping")
	}
	t.problems = decodeStrict(n, what, (*plain)(t))
	t.Line, t.keys = n.Line, collectKeyLines(n)
	return nil
}

// UnmarshalYAML decodes an event or outcome strictly.
func (e *EventSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain EventSpec
	if n.Kind != yaml.MappingNode {
		return shapeError(n.Line, "event"+" must be a mapping")
	}
	e.problems = decodeStrict(n, "event", (*plain)(e))
	e.Line, e.keys = n.Line, collectKeyLines(n)
	return nil
}

// UnmarshalYAML decodes an expectation strictly.
func (x *ExpectSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain ExpectSpec
	if n.Kind != yaml.MappingNode {
		return shapeError(n.Line, "expect"+" must be a mapping")
	}
	x.problems = decodeStrict(n, "expect", (*plain)(x))
	x.Line, x.keys = n.Line, collectKeyLines(n)
	return nil
}

// Test is one compiled test case: steps ready to replay.
type Test struct {
	Name       string
	Source     string // the file it is written in
	Line       int
	Now        time.Time // the case's clock; zero: the time of the run
	Lists      map[string]ListSpec
	Exceptions []TestException
	Given      []Step
	When       Step
	Expect     Expectation
}

// Step is one event to decide or outcome to record.
type Step struct {
	Line      int
	IsOutcome bool
	Event     features.Event   // when !IsOutcome; Time is left 0, At says when
	Outcome   features.Outcome // when IsOutcome; Time is left 0
	At        Timestamp
	Repeat    int // ≥ 1
}

// Expectation is what a case's decision must be.
type Expectation struct {
	Decision   Action // None: any
	Reasons    []string
	NotReasons []string
	ScoreMin   int // 0 when not given
	ScoreMax   int // 100 when not given
}

// String describes x for reports: "decision step_up, reasons [new_device], score ≥ 40".
func (x *Expectation) String() string {
	var parts []string
	if x.Decision != None {
		parts = append(parts, "decision "+x.Decision.String())
	}
	if len(x.Reasons) > 0 {
		parts = append(parts, "reasons "+strings.Join(x.Reasons, ", "))
	}
	if len(x.NotReasons) > 0 {
		parts = append(parts, "not "+strings.Join(x.NotReasons, ", "))
	}
	switch {
	case x.ScoreMin == x.ScoreMax:
		parts = append(parts, fmt.Sprintf("score %d", x.ScoreMin))
	case x.ScoreMin > 0 && x.ScoreMax < 100:
		parts = append(parts, fmt.Sprintf("score %d..%d", x.ScoreMin, x.ScoreMax))
	case x.ScoreMin > 0:
		parts = append(parts, fmt.Sprintf("score ≥ %d", x.ScoreMin))
	case x.ScoreMax < 100:
		parts = append(parts, fmt.Sprintf("score ≤ %d", x.ScoreMax))
	}
	return strings.Join(parts, "; ")
}

// Timestamp is a step's time: absolute, or an offset from the case's clock so that cases stay valid as time
// passes.
type Timestamp struct {
	abs      time.Time
	offset   time.Duration
	relative bool
}

// Resolve returns the time t stands for when the case's clock reads now.
func (t Timestamp) Resolve(now time.Time) time.Time {
	if t.relative {
		return now.Add(t.offset)
	}
	return t.abs
}

// String returns t as written (normalised).
func (t Timestamp) String() string {
	if !t.relative {
		return t.abs.Format(time.RFC3339)
	}
	if t.offset == 0 {
		return "now"
	}
	if t.offset > 0 {
		return "+" + t.offset.String()
	}
	return t.offset.String()
}

// ParseTimestamp reads an RFC 3339 time, "now", or a signed offset from now: "-2h", "-90m", "-3d", "+1m",
// "-1d12h" (Go durations, plus d for 24 hours).
func ParseTimestamp(s string) (Timestamp, error) {
	s = strings.TrimSpace(s)
	if s == "now" {
		return Timestamp{relative: true}, nil
	}
	if s != "" && (s[0] == '-' || s[0] == '+') {
		d, err := parseOffset(s[1:])
		if err == nil {
			if s[0] == '-' {
				d = -d
			}
			return Timestamp{offset: d, relative: true}, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return Timestamp{abs: t}, nil
	}
	return Timestamp{}, fmt.Errorf("timestamp %q: want RFC 3339 (2026-03-01T12:00:00Z), now, or an offset from now such as -2h, -90m, -3d", s)
}

// parseOffset parses an unsigned Go duration that may start with a number of days ("3d", "1d12h").
func parseOffset(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n > 3650 {
			return 0, errors.New("bad days")
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("bad duration")
	}
	return days + d, nil
}

// Limits of a case: tests are examples, not load tests.
const (
	maxRepeat    = 10000
	maxTestSteps = 100000 // events replayed by one case, or by all of a set's cases, repeats included
	maxIDLen     = 256
	maxTextLen   = 1024
	maxTenantLen = 64
	maxAmount    = 1e12
)

// Steps counts the events and outcomes t replays, repeats included.
func (t *Test) Steps() int {
	n := 1
	for i := range t.Given {
		n += t.Given[i].Repeat
	}
	return n
}

// compileTest checks a case and converts it to steps. Errors say what is wrong; the caller adds file, line and
// the case's name.
func compileTest(sp *TestSpec, source string) (Test, []lineMsg) {
	t := Test{Name: sp.Name, Source: source, Line: sp.Line}
	var errs []lineMsg
	fail := func(line int, format string, args ...any) {
		errs = append(errs, lineMsg{line, fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(sp.Name) == "" {
		fail(sp.Line, "name: every test needs a name")
	}
	if sp.Now != "" {
		now, err := time.Parse(time.RFC3339, sp.Now)
		if err != nil {
			fail(sp.Line, "now %q: want an RFC 3339 time such as 2026-03-01T12:00:00Z", sp.Now)
		}
		t.Now = now
	}
	t.Lists = sp.Lists
	for name, l := range sp.Lists {
		switch l.Kind {
		case "ip", "asn", "country", "device", "user", "value":
		default:
			fail(sp.Line, "lists: %s: kind %q: want ip, asn, country, device, user or value", name, l.Kind)
		}
	}
	for i, x := range sp.Exceptions {
		at, err := ParseTimestamp(x.Expires)
		if err != nil || x.Expires == "" {
			fail(sp.Line, "exceptions[%d]: expires %q: want RFC 3339 or an offset such as +24h", i, x.Expires)
			continue
		}
		t.Exceptions = append(t.Exceptions, TestException{ExceptionSpec: x, At: at})
	}
	steps := 0
	for i := range sp.Given {
		g := &sp.Given[i]
		st, err := compileStep(g, true)
		if err != nil {
			fail(g.Line, "given[%d]: %v", i, err)
			continue
		}
		steps += st.Repeat
		t.Given = append(t.Given, st)
	}
	if steps > maxTestSteps {
		fail(sp.Line, "given: %d events with repeats, at most %d", steps, maxTestSteps)
	}
	switch {
	case sp.When == nil:
		fail(sp.Line, "when: the event to decide is missing")
	case sp.When.Outcome != "":
		fail(sp.When.Line, "when: must be an event (type: …), not an outcome")
	case sp.When.Repeat != 0:
		fail(sp.When.Line, "when: repeat is for given events")
	default:
		st, err := compileStep(sp.When, false)
		if err != nil {
			fail(sp.When.Line, "when: %v", err)
		}
		t.When = st
	}
	if sp.Expect == nil {
		fail(sp.Line, "expect: what the decision must be is missing")
	} else {
		x, err := compileExpect(sp.Expect)
		if err != nil {
			fail(sp.Expect.Line, "expect: %v", err)
		}
		t.Expect = x
	}
	return t, errs
}

type lineMsg struct {
	line int
	msg  string
}

// compileStep validates an event or outcome as the API would, so a case cannot replay what riskd refuses.
func compileStep(sp *EventSpec, allowRepeat bool) (Step, error) {
	st := Step{Line: sp.Line, Repeat: 1}
	if sp.Repeat != 0 {
		if !allowRepeat || sp.Repeat < 1 || sp.Repeat > maxRepeat {
			return st, fmt.Errorf("repeat %d: want 1..%d", sp.Repeat, maxRepeat)
		}
		st.Repeat = sp.Repeat
	}
	if sp.Timestamp == "" {
		return st, errors.New("timestamp is required: RFC 3339, now, or an offset from now such as -2h")
	}
	at, err := ParseTimestamp(sp.Timestamp)
	if err != nil {
		return st, err
	}
	st.At = at
	for _, f := range []struct {
		name, v string
		max     int
	}{{"user_id", sp.UserID, maxIDLen}, {"device_id", sp.DeviceID, maxIDLen}, {"session_id", sp.SessionID, maxIDLen},
		{"event_id", sp.EventID, maxIDLen}, {"user_agent", sp.UserAgent, maxTextLen}, {"tenant", sp.Tenant, maxTenantLen}} {
		if len(f.v) > f.max {
			return st, fmt.Errorf("%s: longer than %d bytes", f.name, f.max)
		}
		if strings.ContainsFunc(f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return st, fmt.Errorf("%s: control characters", f.name)
		}
	}
	tenant := sp.Tenant
	if tenant == "" {
		tenant = DefaultTenant
	} else if !ValidTenant(tenant) {
		return st, fmt.Errorf("tenant %q: letters, digits, '_', '-' and '.' only", tenant)
	}
	var ip netip.Addr
	if sp.IP != "" {
		if ip, err = netip.ParseAddr(sp.IP); err != nil || ip.Zone() != "" {
			return st, fmt.Errorf("ip %q: not an IPv4 or IPv6 address", sp.IP)
		}
		ip = ip.Unmap()
	}

	if sp.Outcome != "" {
		if sp.Type != "" {
			return st, errors.New("give type (an event to decide) or outcome (an outcome to record), not both")
		}
		o, ok := features.ParseOutcomeType(sp.Outcome)
		if !ok {
			return st, fmt.Errorf("outcome %q: want one of %s", sp.Outcome, outcomeNames())
		}
		money := o == features.CheckoutCompleted || o == features.Chargeback
		for _, f := range []struct {
			name string
			set  bool
		}{{"channel", sp.Channel != ""}, {"amount", sp.Amount != nil && !money}, {"currency", sp.Currency != "" && !money},
			{"mfa_preference", sp.MFAPreference != ""}, {"credentials_valid", sp.CredentialsValid != nil},
			{"attributes", sp.Attributes != nil}, {"session_id", sp.SessionID != ""}, {"event_id", sp.EventID != ""}} {
			if f.set {
				return st, fmt.Errorf("%s is not a field of outcomes", f.name)
			}
		}
		if sp.UserID == "" {
			return st, errors.New("user_id is required")
		}
		st.IsOutcome = true
		st.Outcome = features.Outcome{Type: o, UserID: sp.UserID, IP: ip, DeviceID: sp.DeviceID, UserAgent: sp.UserAgent, Tenant: tenant}
		if money {
			a, err := testAmount(sp)
			if err != nil {
				return st, err
			}
			if o == features.CheckoutCompleted && a < 0 {
				return st, errors.New("checkout_completed needs amount and currency")
			}
			if a >= 0 {
				st.Outcome.Amount, st.Outcome.HasAmount, st.Outcome.Currency = a, true, sp.Currency
			}
		}
		return st, nil
	}

	if sp.Type == "" {
		return st, errors.New("type (an event to decide) or outcome (an outcome to record) is required")
	}
	et, ok := features.ParseEventType(sp.Type)
	if !ok {
		return st, fmt.Errorf("type %q: want one of %s", sp.Type, eventNames())
	}
	ev := features.Event{Type: et, UserID: sp.UserID, IP: ip, DeviceID: sp.DeviceID, UserAgent: sp.UserAgent,
		SessionID: sp.SessionID, EventID: sp.EventID, Tenant: tenant, Channel: sp.Channel, Currency: sp.Currency}
	switch {
	case !ip.IsValid():
		return st, errors.New("ip is required")
	case sp.UserID == "" && et != features.Registration:
		return st, fmt.Errorf("user_id is required for %s events", et)
	case sp.Channel != "" && !features.ValidChannel(sp.Channel):
		return st, fmt.Errorf("channel %q: want web, mobile, store, call_center or api", sp.Channel)
	}
	a, err := testAmount(sp)
	if err != nil {
		return st, err
	}
	if a >= 0 {
		ev.Amount, ev.HasAmount = a, true
	}
	if sp.MFAPreference != "" {
		if ev.MFAPreference, ok = features.ParseMFAPreference(sp.MFAPreference); !ok {
			return st, fmt.Errorf("mfa_preference %q: want always, sensitive or adaptive", sp.MFAPreference)
		}
	}
	if sp.CredentialsValid != nil {
		ev.HasCredentials, ev.CredentialsValid = true, *sp.CredentialsValid
	}
	if len(sp.Attributes) > features.MaxAttributes {
		return st, fmt.Errorf("attributes: %d, at most %d", len(sp.Attributes), features.MaxAttributes)
	}
	for _, k := range sortedKeys(sp.Attributes) {
		if err := features.ValidAttribute(k, sp.Attributes[k]); err != nil {
			return st, fmt.Errorf("attributes.%s: %w", k, err)
		}
		ev.Attributes[ev.NumAttributes] = features.Attribute{Key: k, Value: sp.Attributes[k]}
		ev.NumAttributes++
	}
	st.Event = ev
	return st, nil
}

// testAmount checks a step's amount and currency as the API does: -1 when it has neither.
func testAmount(sp *EventSpec) (float64, error) {
	switch {
	case sp.Currency != "" && !validCurrency(sp.Currency):
		return 0, fmt.Errorf("currency %q: want an ISO 4217 code such as EUR", sp.Currency)
	case sp.Amount == nil && sp.Currency != "":
		return 0, errors.New("amount is required with currency")
	case sp.Amount == nil:
		return -1, nil
	}
	a := *sp.Amount
	if math.IsNaN(a) || a < 0 || a > maxAmount {
		return 0, fmt.Errorf("amount %g: want 0 to %g", a, float64(maxAmount))
	}
	if sp.Currency == "" {
		return 0, errors.New("currency is required with amount")
	}
	return a, nil
}

func compileExpect(sp *ExpectSpec) (Expectation, error) {
	x := Expectation{Reasons: sp.Reasons, NotReasons: sp.NotReasons, ScoreMin: 0, ScoreMax: 100}
	given := len(sp.Reasons) > 0 || len(sp.NotReasons) > 0
	if sp.Decision != "" {
		a, ok := ParseAction(sp.Decision)
		if !ok {
			return x, fmt.Errorf("decision %q: want allow, step_up or deny", sp.Decision)
		}
		x.Decision, given = a, true
	}
	bound := func(name string, v *int, dst *int) error {
		if v == nil {
			return nil
		}
		if *v < 0 || *v > 100 {
			return fmt.Errorf("%s %d: scores are 0..100", name, *v)
		}
		*dst, given = *v, true
		return nil
	}
	if sp.Score != nil && (sp.ScoreAtLeast != nil || sp.ScoreAtMost != nil) {
		return x, errors.New("give score, or score_at_least / score_at_most, not both")
	}
	if err := errors.Join(bound("score", sp.Score, &x.ScoreMin), bound("score", sp.Score, &x.ScoreMax),
		bound("score_at_least", sp.ScoreAtLeast, &x.ScoreMin), bound("score_at_most", sp.ScoreAtMost, &x.ScoreMax)); err != nil {
		return x, err
	}
	if x.ScoreMin > x.ScoreMax {
		return x, fmt.Errorf("score_at_least %d is above score_at_most %d", x.ScoreMin, x.ScoreMax)
	}
	for _, r := range sp.Reasons {
		if contains(sp.NotReasons, r) {
			return x, fmt.Errorf("%q is in both reasons and not_reasons", r)
		}
	}
	if !given {
		return x, errors.New("nothing to check: give decision, reasons, not_reasons or a score")
	}
	return x, nil
}

// DefaultTenant is the tenant of events that name none, as the API fills it in.
const DefaultTenant = "default"

// ValidTenant reports whether s may name a tenant: letters, digits, '_', '-' and '.', at most 64 bytes, as
// the API accepts.
func ValidTenant(s string) bool {
	if s == "" || len(s) > maxTenantLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func validCurrency(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z'
}

func eventNames() string {
	var names []string
	for t := features.Login; t < features.NumEventTypes; t++ {
		names = append(names, t.String())
	}
	return strings.Join(names, ", ")
}

func outcomeNames() string {
	var names []string
	for t := features.LoginSucceeded; t.String() != ""; t++ {
		names = append(names, t.String())
	}
	return strings.Join(names, ", ")
}
