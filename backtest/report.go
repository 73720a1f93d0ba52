package backtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// Report compares a candidate rule set's decisions with the recorded ones.
type Report struct {
	CandidateVersion string        `json:"candidate_version"`
	Events           int           `json:"events"`    // decisions replayed
	Fallbacks        int           `json:"fallbacks"` // fail-policy decisions in the log, not replayed
	Invalid          int           `json:"invalid"`   // lines that are not records
	Flipped          int           `json:"flipped"`   // decisions the candidate would change
	Recorded         Distribution  `json:"recorded"`
	Candidate        Distribution  `json:"candidate"`
	ByEventType      []Group       `json:"by_event_type"`
	ByTenant         []Group       `json:"by_tenant"`
	Rules            []RuleChange  `json:"rules"`   // by how much their firing count changed, most first
	Retired          []RuleChange  `json:"retired"` // rules that fired in the log but are not in the candidate
	Flips            []Flip        `json:"flips"`   // a sample of changed decisions
	Labels           *LabelStats   `json:"labels"`  // nil when the log holds no labels
	Duration         time.Duration `json:"duration_ns"`
}

// Distribution counts decisions by action.
type Distribution [rules.Deny + 1]int

// MarshalJSON writes d as {"allow": n, "step_up": n, "deny": n}.
func (d Distribution) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"allow":%d,"step_up":%d,"deny":%d}`, d[rules.Allow], d[rules.StepUp], d[rules.Deny]), nil
}

// Group is the step-up and deny counts of one event type or tenant.
type Group struct {
	Name      string       `json:"name"`
	Events    int          `json:"events"`
	Recorded  Distribution `json:"recorded"`
	Candidate Distribution `json:"candidate"`
}

// RuleChange is how often a rule fired in the log and under the candidate.
type RuleChange struct {
	ID        string `json:"id"`
	Recorded  int    `json:"recorded"`
	Candidate int    `json:"candidate"`
}

// Flip is one decision the candidate would change.
type Flip struct {
	EvaluationID string   `json:"evaluation_id"`
	Time         string   `json:"time"`
	Event        string   `json:"event"`
	Tenant       string   `json:"tenant"`
	Recorded     string   `json:"recorded"`
	Candidate    string   `json:"candidate"`
	Fired        []string `json:"fired"` // candidate rules that fired
	// What explains the flip: both scores, the rules that fired when it was decided, and the logged feature
	// vector the candidate read (the decision log's "features" object as it is).
	RecordedScore  int             `json:"recorded_score"`
	CandidateScore int             `json:"candidate_score"`
	RecordedFired  []string        `json:"recorded_fired"`
	Features       json.RawMessage `json:"features,omitempty"`
}

// LabelStats measures decisions against labels: detection is the share of fraud that was stepped up or
// denied, false positives the share of legitimate events that were.
type LabelStats struct {
	Fraud              int     `json:"fraud"`
	Legit              int     `json:"legit"`
	RecordedDetection  float64 `json:"recorded_detection"`
	CandidateDetection float64 `json:"candidate_detection"`
	RecordedFalsePos   float64 `json:"recorded_false_pos"`
	CandidateFalsePos  float64 `json:"candidate_false_pos"`
}

// EventsPerSecond is the replay rate.
func (r *Report) EventsPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Events) / r.Duration.Seconds()
}

type counts struct {
	Events, Fallbacks, Invalid, Flipped int
	Recorded, Candidate                 Distribution
	byType                              [features.NumEventTypes]Group
	byTenant                            map[string]*Group
	rules                               []RuleChange
	ruleIndex                           map[string]int
	retired                             map[string]int
}

func newCounts(candidate *rules.Set) counts {
	c := counts{byTenant: map[string]*Group{}, ruleIndex: map[string]int{}, retired: map[string]int{}}
	for i := range candidate.Rules {
		c.rules = append(c.rules, RuleChange{ID: candidate.Rules[i].ID})
		c.ruleIndex[candidate.Rules[i].ID] = i
	}
	return c
}

func (c *counts) tenant(name string) *Group {
	g, ok := c.byTenant[name]
	if !ok {
		g = &Group{Name: strings.Clone(name)}
		c.byTenant[g.Name] = g
	}
	return g
}

func (g *Group) add(recorded, candidate rules.Action) {
	g.Events++
	g.Recorded[recorded]++
	g.Candidate[candidate]++
}

func (g *Group) merge(o *Group) {
	g.Events += o.Events
	for a := range g.Recorded {
		g.Recorded[a] += o.Recorded[a]
		g.Candidate[a] += o.Candidate[a]
	}
}

type reportBuilder struct {
	*Report
	counts
	outcomes []outcome
	labels   map[uint64]bool
}

func newReport(candidate *rules.Set) *reportBuilder {
	return &reportBuilder{Report: &Report{CandidateVersion: candidate.Version}, counts: newCounts(candidate), labels: map[uint64]bool{}}
}

func (b *reportBuilder) merge(p *partial) {
	b.counts.Events += p.Events
	b.counts.Fallbacks += p.Fallbacks
	b.counts.Invalid += p.Invalid
	b.counts.Flipped += p.Flipped
	for a := range b.counts.Recorded {
		b.counts.Recorded[a] += p.Recorded[a]
		b.counts.Candidate[a] += p.Candidate[a]
	}
	for t := range b.byType {
		b.byType[t].merge(&p.byType[t])
	}
	for name, g := range p.byTenant {
		b.tenant(name).merge(g)
	}
	for i := range b.rules {
		b.rules[i].Recorded += p.rules[i].Recorded
		b.rules[i].Candidate += p.rules[i].Candidate
	}
	for id, n := range p.retired {
		b.retired[id] += n
	}
	b.outcomes = append(b.outcomes, p.outcomes...)
	for id, fraud := range p.labels {
		b.labels[id] = fraud
	}
	b.Flips = append(b.Flips, p.flips...)
}

func (b *reportBuilder) finish(samples int) {
	r := b.Report
	r.Events, r.Fallbacks, r.Invalid, r.Flipped = b.counts.Events, b.counts.Fallbacks, b.counts.Invalid, b.counts.Flipped
	r.Recorded, r.Candidate = b.counts.Recorded, b.counts.Candidate
	for t := features.Login; t < features.NumEventTypes; t++ {
		if g := b.byType[t]; g.Events > 0 {
			g.Name = t.String()
			r.ByEventType = append(r.ByEventType, g)
		}
	}
	for _, g := range b.byTenant {
		r.ByTenant = append(r.ByTenant, *g)
	}
	slices.SortFunc(r.ByTenant, func(x, y Group) int { return cmp.Compare(x.Name, y.Name) })
	for _, rc := range b.rules {
		if rc.Recorded != rc.Candidate || rc.Candidate > 0 {
			r.Rules = append(r.Rules, rc)
		}
	}
	slices.SortStableFunc(r.Rules, func(x, y RuleChange) int { return cmp.Compare(absDiff(y), absDiff(x)) })
	for id, n := range b.retired {
		r.Retired = append(r.Retired, RuleChange{ID: id, Recorded: n})
	}
	slices.SortFunc(r.Retired, func(x, y RuleChange) int { return cmp.Compare(y.Recorded, x.Recorded) })
	slices.SortFunc(r.Flips, func(x, y Flip) int { return cmp.Compare(x.Time, y.Time) })
	if len(r.Flips) > samples {
		r.Flips = r.Flips[:samples]
	}
	if len(b.labels) > 0 {
		r.Labels = labelStats(b.outcomes, b.labels)
	}
}

func absDiff(rc RuleChange) int {
	if d := rc.Candidate - rc.Recorded; d >= 0 {
		return d
	}
	return rc.Recorded - rc.Candidate
}

func labelStats(outcomes []outcome, labels map[uint64]bool) *LabelStats {
	var s LabelStats
	var recCaught, candCaught, recFlagged, candFlagged int
	for _, o := range outcomes {
		fraud, ok := labels[o.id]
		if !ok {
			continue
		}
		rec, cand := o.recorded >= rules.StepUp, o.candidate >= rules.StepUp
		if fraud {
			s.Fraud++
			recCaught += b2i(rec)
			candCaught += b2i(cand)
		} else {
			s.Legit++
			recFlagged += b2i(rec)
			candFlagged += b2i(cand)
		}
	}
	s.RecordedDetection, s.CandidateDetection = ratio(recCaught, s.Fraud), ratio(candCaught, s.Fraud)
	s.RecordedFalsePos, s.CandidateFalsePos = ratio(recFlagged, s.Legit), ratio(candFlagged, s.Legit)
	return &s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

func firedIDs(set *rules.Set, fired []int) []string {
	out := make([]string, len(fired))
	for i, f := range fired {
		out[i] = set.Rules[f].ID
	}
	return out
}

func pct(n, d int) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(d))
}

// WriteText prints the report for a terminal.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "backtest of rules %s: %d decisions replayed in %v (%.0f/s); %d changed (%s); %d fail-policy decisions skipped; %d invalid lines\n\n",
		r.CandidateVersion, r.Events, r.Duration.Round(time.Millisecond), r.EventsPerSecond(), r.Flipped, pct(r.Flipped, r.Events), r.Fallbacks, r.Invalid)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "decision\trecorded\tcandidate\t")
	for a := rules.Allow; a <= rules.Deny; a++ {
		fmt.Fprintf(tw, "%s\t%d (%s)\t%d (%s)\t\n", a, r.Recorded[a], pct(r.Recorded[a], r.Events), r.Candidate[a], pct(r.Candidate[a], r.Events))
	}
	tw.Flush()
	groups := func(title string, gs []Group) {
		fmt.Fprintf(w, "\n%s\n", title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\tevents\tstep_up recorded\tstep_up candidate\tdeny recorded\tdeny candidate\t")
		for _, g := range gs {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", g.Name, g.Events, pct(g.Recorded[rules.StepUp], g.Events), pct(g.Candidate[rules.StepUp], g.Events),
				pct(g.Recorded[rules.Deny], g.Events), pct(g.Candidate[rules.Deny], g.Events))
		}
		tw.Flush()
	}
	groups("by event type", r.ByEventType)
	groups("by tenant", r.ByTenant)
	if len(r.Rules) > 0 || len(r.Retired) > 0 {
		fmt.Fprintln(w, "\nrules that changed most (times fired)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "rule\trecorded\tcandidate\t")
		for _, rc := range r.Rules {
			fmt.Fprintf(tw, "%s\t%d\t%d\t\n", rc.ID, rc.Recorded, rc.Candidate)
		}
		for _, rc := range r.Retired {
			fmt.Fprintf(tw, "%s (not in candidate)\t%d\t-\t\n", rc.ID, rc.Recorded)
		}
		tw.Flush()
	}
	if r.Labels != nil {
		l := r.Labels
		fmt.Fprintf(w, "\nlabelled: %d fraud, %d legit\n", l.Fraud, l.Legit)
		fmt.Fprintf(w, "detection (fraud stepped up or denied): recorded %.2f%%, candidate %.2f%%\n", 100*l.RecordedDetection, 100*l.CandidateDetection)
		fmt.Fprintf(w, "false positives (legit stepped up or denied): recorded %.2f%%, candidate %.2f%%\n", 100*l.RecordedFalsePos, 100*l.CandidateFalsePos)
	}
	if len(r.Flips) > 0 {
		fmt.Fprintf(w, "\nsample of changed decisions\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "time\tevaluation_id\tevent\ttenant\trecorded\tcandidate\tcandidate rules fired\t")
		for _, f := range r.Flips {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", f.Time, f.EvaluationID, f.Event, f.Tenant, f.Recorded, f.Candidate, strings.Join(f.Fired, ","))
		}
		tw.Flush()
	}
}
