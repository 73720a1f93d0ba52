package engine

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/internal/jsonenc"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/livestream"
	"github.com/riskd/riskd/rules"
)

// Errors of the event as a whole, beyond what a decoder checks field by field.
var (
	// ErrFutureTimestamp: the event claims a time beyond the allowed clock skew.
	ErrFutureTimestamp = errors.New("timestamp is in the future")
	// ErrStaleTimestamp: the event is older than the retention horizon, so nothing it would teach could be kept.
	ErrStaleTimestamp = errors.New("timestamp is older than the retention period")
)

// Config configures an Engine.
type Config struct {
	Extractor *features.Extractor
	Rules     *rules.Set
	// MaxSkew is how far in the future an event's timestamp may be (clients' clocks drift). Default 5 min.
	MaxSkew time.Duration
	// Retention is how far back an event's timestamp may be. Default 180 days.
	Retention time.Duration
	// Now returns the arrival time; default time.Now. Tests and replays set it.
	Now func() time.Time
	// Metrics receives counts and latencies; nil records nothing.
	Metrics *Metrics
	// Lists holds the lists rules test with in_list and the exceptions that suppress rules; nil = none.
	Lists *lists.Registry
	// Log receives every decision; nil logs nothing.
	Log *decisionlog.Log
	// FailPolicy is the decision per event type when an event cannot be evaluated; zero = DefaultFailPolicy.
	FailPolicy *FailPolicy
	// Signals receives the decisions and outcomes worth reporting to the security stack; nil = none.
	Signals SignalSink
	// Stream configures the hub that hands decisions to live viewers (Engine.Stream); zero = its defaults.
	Stream livestream.Config
}

// Engine decides on events. Safe for concurrent use.
type Engine struct {
	x          *features.Extractor
	live       atomic.Pointer[liveRules]
	shadow     atomic.Pointer[rules.Set] // a candidate evaluated beside the live set; nil = none
	lists      *lists.Registry
	listLive   atomic.Pointer[listResolution]
	listShadow atomic.Pointer[listResolution]
	maxSkew    int64
	retention  int64
	now        func() time.Time
	metrics    *Metrics
	pool       sync.Pool // *scratch
	idBase     uint64
	idSeq      atomic.Uint64
	taught     *lessonTable // what outcomes taught of recent evaluations' logins (lessons.go)
	failPolicy FailPolicy
	log        *decisionlog.Log
	signals    SignalSink
	stream     *livestream.Hub // always set; costs a decision one atomic load while no viewer is connected
}

// liveRules is a rule set with what the engine derives from it, published together.
type liveRules struct {
	set       *rules.Set
	fired     []counter         // per rule
	decisions *decisionCounters // nil without metrics
	reasons   [][]byte          // per rule: Reason.JSON
}

type scratch struct {
	eval   *rules.Evaluator
	obs    features.Observation
	res    rules.Result
	shadow rules.Result
	rec    decisionlog.Record
	extra  livestream.Extra // what the live stream shows beside rec; Reasons is reused

	liveFired []int

	// lists and exceptions
	snap       *lists.Snapshot
	subject    lists.Subject
	exceptions []*lists.Exception
	suppress   []bool // for the live set
	suppressSh []bool // for the shadow set
}

// New returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Extractor == nil || cfg.Rules == nil {
		return nil, errors.New("engine: Extractor and Rules are required")
	}
	e := &Engine{
		x:         cfg.Extractor,
		maxSkew:   int64(cmp(cfg.MaxSkew, 5*time.Minute)),
		retention: int64(cmp(cfg.Retention, 180*24*time.Hour)),
		now:       cfg.Now,
		metrics:   cfg.Metrics,
		log:       cfg.Log,
		lists:     cfg.Lists,
		taught:    newLessonTable(lessonSlots),
		signals:   cfg.Signals,
		stream:    livestream.New(cfg.Stream),
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.failPolicy = DefaultFailPolicy()
	if cfg.FailPolicy != nil {
		e.failPolicy = *cfg.FailPolicy
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("engine: evaluation id seed: %w", err)
	}
	e.idBase = binary.LittleEndian.Uint64(b[:]) & serialMask
	e.pool.New = func() any { return &scratch{eval: rules.NewEvaluator()} }
	e.SwapRules(cfg.Rules)
	return e, nil
}

func cmp(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// SwapRules makes s the live rule set for every decision that starts after it, and returns the previous set.
func (e *Engine) SwapRules(s *rules.Set) *rules.Set {
	l := &liveRules{set: s, fired: e.metrics.ruleCounters(s), decisions: e.metrics.decisionCounters(s), reasons: reasonsJSON(s)}
	if old := e.live.Swap(l); old != nil {
		return old.set
	}
	return nil
}

// SetShadow makes s a shadow candidate (nil removes it): it is evaluated beside the live set on every
// decision, never changes an answer, and where it would have decided differently the metrics and the
// decision log say so. It returns the previous shadow set.
func (e *Engine) SetShadow(s *rules.Set) *rules.Set { return e.shadow.Swap(s) }

// Shadow returns the shadow candidate, or nil.
func (e *Engine) Shadow() *rules.Set { return e.shadow.Load() }

// Rules returns the live rule set.
func (e *Engine) Rules() *rules.Set { return e.live.Load().set }

// Stream returns the hub through which live viewers see decisions as they are made.
func (e *Engine) Stream() *livestream.Hub { return e.stream }

// Extractor returns the engine's feature extractor.
func (e *Engine) Extractor() *features.Extractor { return e.x }

// Reason is one reason for a decision.
type Reason struct {
	Code    string
	Rule    string // rule id; empty for policy reasons
	Message string
	Score   int
	// Template, when not nil, is the message with feature values: write it with Template.Append over
	// Decision.Values instead of Message.
	Template *rules.Template
	// JSON, for a rule's reason, is `"code":…,"rule":…` and, when Template is nil, `,"message":…`, encoded once
	// per rule set (reasonsJSON): a response copies it instead of escaping the same strings on every decision.
	// Nil for other reasons. It is shared: never modify it.
	JSON []byte
}

// reasonsJSON encodes, per rule of s, what its reason always says, as Reason.JSON.
func reasonsJSON(s *rules.Set) [][]byte {
	out := make([][]byte, len(s.Rules))
	for i := range s.Rules {
		r := &s.Rules[i]
		b := jsonenc.AppendString([]byte(`"code":`), r.Code)
		b = jsonenc.AppendString(append(b, `,"rule":`...), r.ID)
		if r.Template == nil {
			b = jsonenc.AppendString(append(b, `,"message":`...), r.Message)
		}
		out[i] = b
	}
	return out
}

// Decision is the answer to one event. The caller owns it and may reuse it across calls; Reasons is reused.
type Decision struct {
	Action       rules.Action
	Score        int
	Reasons      []Reason
	EvaluationID uint64
	RulesVersion string
	Took         time.Duration
	// Values is a copy of the feature vector, filled only when a reason has a Template to format.
	Values features.Vector
	// Explain, when non-nil, receives the feature vector and every rule's result. Leave nil on the fast path.
	Explain *Explanation
}

// Explanation is the full account of a decision.
type Explanation struct {
	Vector     features.Vector
	Rules      []RuleResult
	Thresholds rules.Thresholds // those of the event's tenant and type
}

// RuleResult is one rule's result in an explanation.
type RuleResult struct {
	ID      string
	Tenant  string // the overlay that added the rule; "" for a global rule
	Fired   bool
	Shadow  bool
	Skipped bool // the rule did not apply to this event: Why says why
	Why     rules.Applicability
	Score   int
	Action  rules.Action
}

// Policy reason codes, for decisions not made by a rule.
const (
	CodeMFAAlways    = "mfa_preference_always"
	CodeMFASensitive = "mfa_preference_sensitive"
)

// Decide decides on ev and records what it teaches. ev.Time may be 0 (arrival time is used); a time ahead of
// arrival is taken as arrival (eventTime), and Decide leaves the time it used in ev.Time. The only errors are
// ErrFutureTimestamp, ErrStaleTimestamp and features.ErrUnknownCurrency, which leave state untouched.
func (e *Engine) Decide(ev *features.Event, d *Decision) error {
	// One clock read serves as arrival time, timestamp default and the start of the latency measurement:
	// reading the clock is not free on every machine riskd runs on.
	start := ev.Received
	if start.IsZero() {
		start = e.now()
	}
	at, err := e.eventTime(ev.Time, start.UnixNano())
	if err != nil {
		return err
	}
	if err := e.x.Convert(ev); err != nil {
		return err
	}
	ev.Time = at
	live := e.live.Load()
	s := e.pool.Get().(*scratch)
	defer e.pool.Put(s)

	e.x.Extract(ev, &s.obs, &s.eval.Vector)
	in := rules.Input{Type: ev.Type, Tenant: ev.Tenant, Time: ev.Time}
	var listed lists.Mask
	if e.lists != nil {
		listed = e.matchLists(ev, s)
		in.Suppress = e.listsFor(live.set, s, listed, &s.suppress)
	}
	e.fillAttributes(live.set, ev, s)
	live.set.Evaluate(s.eval, in, &s.res)

	d.Action = s.res.Action
	d.Score = s.res.Score
	d.RulesVersion = live.set.Version
	d.EvaluationID = e.newEvaluationID(ev.Tenant)
	d.Reasons = d.Reasons[:0]
	templated := false
	for _, i := range s.res.Fired {
		r := &live.set.Rules[i]
		live.fired[i].Inc()
		if r.Shadow {
			continue
		}
		d.Reasons = append(d.Reasons, Reason{Code: r.Code, Rule: r.ID, Message: r.Message, Score: r.Score, Template: r.Template,
			JSON: live.reasons[i]})
		templated = templated || r.Template != nil
	}
	if templated {
		d.Values = s.eval.Vector // once, for every reason that formats feature values
	}
	if in.Suppress != nil {
		for _, x := range s.exceptions {
			d.Reasons = append(d.Reasons, Reason{Code: CodeException, Rule: x.ID, Message: x.Summary()})
		}
	}
	e.applyMFAPreference(ev.Type, s.obs.MFA, d)
	shadow := e.shadow.Load()
	var shadowAction rules.Action
	if shadow != nil {
		// Res.Fired is the evaluator's buffer, which the next evaluation reuses: keep a copy of the live list.
		s.liveFired = append(s.liveFired[:0], s.res.Fired...)
		s.res.Fired = s.liveFired
		liveMask := s.eval.Vector.ListMask
		shadowIn := in
		if e.lists != nil {
			// The shadow set numbers its lists and rules its own way.
			shadowIn.Suppress = e.listsFor(shadow, s, listed, &s.suppressSh)
		}
		e.fillAttributes(shadow, ev, s) // and its attributes
		shadow.Evaluate(s.eval, shadowIn, &s.shadow)
		s.eval.Vector.ListMask = liveMask
		e.fillAttributes(live.set, ev, s)
		shadowAction, _ = MFAPolicy(ev.Type, s.obs.MFA, s.shadow.Action)
		e.metrics.shadowed(d.Action, shadowAction)
	}
	if d.Explain != nil {
		e.explain(live.set, in, s.eval, &s.res, d.Explain)
	}

	d.EvaluationID = markTaught(d.EvaluationID, e.x.Record(ev, &s.obs, verdict(d.Action)))
	streaming := e.stream.Active()
	if e.log != nil || streaming {
		s.rec.Fill(ev.Time, d.EvaluationID, s.obs.UserKey, d.Action, d.Score, live.set, s.res.Fired, &s.eval.Vector)
		if shadow != nil {
			s.rec.SetShadow(shadow, shadowAction, s.shadow.Fired)
		}
		if e.log != nil {
			e.log.Append(&s.rec)
		}
	}
	if e.signals != nil && ev.UserID != "" {
		e.signalDecision(ev, d, live.set, s.res.Fired)
	}
	d.Took = time.Since(start)
	if streaming {
		e.publish(s, ev, d, shadow != nil)
	}
	e.metrics.decided(d, live, ev.Tenant, ev.Type)
	return nil
}

// publish hands the decision in s.rec to the live viewers, with what they see beside it. Only while a viewer
// is connected; it copies into the stream's ring and allocates nothing once s.extra.Reasons has grown.
func (e *Engine) publish(s *scratch, ev *features.Event, d *Decision, shadowed bool) {
	x := &s.extra
	x.IP, x.Took, x.ShadowScore = ev.IP, d.Took, 0
	if shadowed {
		x.ShadowScore = s.shadow.Score
	}
	x.Reasons = x.Reasons[:0]
	for i := range d.Reasons {
		if len(x.Reasons) == livestream.MaxReasons {
			break
		}
		r := &d.Reasons[i]
		x.Reasons = append(x.Reasons, livestream.Reason{Code: r.Code, Rule: r.Rule, Score: r.Score})
	}
	e.stream.Publish(&s.rec, x)
	clear(x.Reasons) // the pooled scratch must not hold on to rule sets' strings
}

// eventTime returns the time an event with timestamp t (0: none) that arrived at now is taken to have happened,
// and refuses timestamps riskd cannot use: in the future beyond the skew, or older than the retention.
//
// A timestamp ahead of arrival is accepted (clients' clocks run fast) but taken as the arrival time: nothing
// happens after riskd hears of it, so arrival is the better estimate, and a time in the future would move
// every window and stamped set it touches forward, so that the events that follow at the true time read as
// older than the rings hold (one login stamped 290 s ahead blinded an address's 1-minute counts for the next
// 4 minutes). One time serves everything the event touches (reading and stamping state, hour of day, travel
// since the last login, which rules apply, the decision log): reading at the claimed time while stamping at
// arrival would blind the event's own reading instead. Past timestamps are kept as they are: imports,
// backtests and late deliveries happened then.
func (e *Engine) eventTime(t, now int64) (int64, error) {
	switch {
	case t == 0:
		return now, nil
	case t > now+e.maxSkew:
		return 0, ErrFutureTimestamp
	case t < now-e.retention:
		return 0, ErrStaleTimestamp
	case t > now:
		return now, nil
	}
	return t, nil
}

// applyMFAPreference raises d to a step-up when the user's MFA preference asks for one, with the reason.
func (e *Engine) applyMFAPreference(t features.EventType, p features.MFAPreference, d *Decision) {
	a, code := MFAPolicy(t, p, d.Action)
	if a == d.Action {
		return
	}
	d.Action = a
	msg := "The user asked for a second factor on every sign-in."
	if code == CodeMFASensitive {
		msg = "The user asked for a second factor on sensitive transactions."
	}
	d.Reasons = append(d.Reasons, Reason{Code: code, Message: msg})
}

// MFAPolicy is the user's MFA preference applied to the rules' action: it may raise an allow to a step-up,
// never lower a deny, and never steps up a registration for preference alone (a user who is registering has
// no second factor yet). code names the preference that raised it ("" when it did not).
func MFAPolicy(t features.EventType, p features.MFAPreference, a rules.Action) (_ rules.Action, code string) {
	if a != rules.Allow {
		return a, ""
	}
	switch {
	case p == features.MFAAlways && t != features.Registration:
		return rules.StepUp, CodeMFAAlways
	case p == features.MFASensitive && t.Sensitive():
		return rules.StepUp, CodeMFASensitive
	}
	return a, ""
}

// explain lists every rule of s, with whether it applied to this event's tenant, type and time and whether
// it fired.
func (e *Engine) explain(s *rules.Set, in rules.Input, ev *rules.Evaluator, res *rules.Result, x *Explanation) {
	x.Vector = ev.Vector
	x.Thresholds = res.Thresholds
	x.Rules = x.Rules[:0]
	fired := res.Fired
	for i := range s.Rules {
		r := &s.Rules[i]
		why := s.Applies(i, in)
		rr := RuleResult{ID: r.ID, Tenant: r.Tenant, Shadow: r.Shadow, Skipped: why != rules.Applies, Why: why, Score: r.Score, Action: r.Action}
		if len(fired) > 0 && fired[0] == i {
			rr.Fired = true
			fired = fired[1:]
		}
		x.Rules = append(x.Rules, rr)
	}
}

func verdict(a rules.Action) features.Verdict {
	switch a {
	case rules.Deny:
		return features.VerdictDeny
	case rules.StepUp:
		return features.VerdictStepUp
	}
	return features.VerdictAllow
}

// Record applies an outcome to state. o.Time may be 0 (arrival time is used); a time ahead of arrival is taken
// as arrival, as in Decide. An outcome that confirms a login (login_succeeded, legit_confirmed, mfa_passed) and
// names its evaluation teaches only what that login has not taught yet: nothing more when the decision learned
// it (login_succeeded after an allowed login), only the trust of the device when mfa_passed follows, and
// nothing when an outcome naming it comes again. Likewise a login_failed naming its evaluation counts no failure
// when the decision counted it (credentials_valid: false), and counts one once however often it comes. Without
// an evaluation id it teaches the whole login, or counts the failure.
func (e *Engine) Record(o *features.Outcome) error {
	at, err := e.eventTime(o.Time, e.now().UnixNano())
	if err != nil {
		return err
	}
	if err := e.x.ConvertOutcome(o); err != nil {
		return err
	}
	o.Time = at
	e.x.LearnOnly(o, e.lessons(o))
	e.metrics.outcome(o.Type)
	e.logLabel(o)
	if e.signals != nil {
		e.signalOutcome(o)
	}
	return nil
}

// logLabel records a confirmed verdict on an earlier decision in the decision log, where backtests join it to
// that decision by evaluation id.
func (e *Engine) logLabel(o *features.Outcome) {
	if e.log == nil || (o.Type != features.FraudConfirmed && o.Type != features.LegitConfirmed && o.Type != features.Chargeback) {
		return
	}
	id, ok := parseEvaluationID(o.EvaluationID)
	if !ok {
		return
	}
	rec := decisionlog.Record{Time: o.Time, EvaluationID: id, Label: "legit"}
	if o.Type == features.FraudConfirmed || o.Type == features.Chargeback {
		rec.Label = "fraud" // a chargeback is the shop's confirmation of fraud, weeks later
	}
	e.log.Append(&rec)
}
