package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// The goals the default rules are tuned for.
const (
	goalLegitStepUp = 2.0  // % of legitimate logins stepped up, at most
	goalLegitDeny   = 0.1  // % of legitimate logins denied, at most
	goalTakeover    = 99.0 // % of takeovers stepped up or denied, at least
)

// Report is the result of a run; -json prints it as is.
type Report struct {
	Users       int              `json:"users"`
	Seed        uint64           `json:"seed"`
	Start       time.Time        `json:"start"`
	Measured    time.Time        `json:"measured_from"`
	WarmupDays  int              `json:"warmup_days"`
	Days        int              `json:"measured_days"`
	Rules       string           `json:"rules_version"`
	RulesSource string           `json:"rules_source"`
	GeoIP       string           `json:"geoip"`
	Networks    int              `json:"networks"`
	UserAgents  string           `json:"user_agents"`
	Events      int              `json:"events"`
	Outcomes    map[string]int64 `json:"outcomes"`
	Seconds     float64          `json:"seconds"`
	Classes     []ClassRow       `json:"classes"`
	Goals       []Goal           `json:"goals"`
}

// ClassRow is one class's decisions in the measured period.
type ClassRow struct {
	Class  string  `json:"class"`
	Kind   string  `json:"kind"` // legit or attack
	Events int     `json:"events"`
	Allow  float64 `json:"allow_pct"`
	StepUp float64 `json:"step_up_pct"`
	Deny   float64 `json:"deny_pct"`
	// Informational: not counted in any goal, and why.
	Informational string `json:"informational,omitempty"`
	// Fired: per decision, the rules that fired on those events.
	Fired []DecisionRules `json:"fired"`
}

// DecisionRules is which rules fired on a class's events of one decision.
type DecisionRules struct {
	Decision string      `json:"decision"`
	Events   int         `json:"events"`
	NoRule   int         `json:"no_rule"` // events on which no rule fired
	Rules    []RuleShare `json:"rules"`   // most frequent first
}

// RuleShare is how many of those events a rule fired on.
type RuleShare struct {
	Rule    string  `json:"rule"`
	Events  int     `json:"events"`
	Percent float64 `json:"pct"`
}

// Goal is one goal checked.
type Goal struct {
	Name     string  `json:"name"`
	Events   int     `json:"events"`
	Measured float64 `json:"measured_pct"`
	Pass     bool    `json:"pass"`
}

var decisionNames = [3]string{"allow", "step_up", "deny"}

// build turns a tally into the report's rows and goals. A class with no event is left out.
func (rep *Report) build(t *tally, set *rules.Set) {
	rep.Events = t.events
	rep.Seconds = t.elapsed.Seconds()
	rep.Outcomes = map[string]int64{}
	for typ, n := range t.outcomes {
		if n > 0 {
			rep.Outcomes[features.OutcomeType(typ).String()] = n
		}
	}
	var legit, legitStepUp, legitDeny, takeover, stopped int
	for c := range numClasses {
		d := t.decisions[c]
		n := d[0] + d[1] + d[2]
		if n == 0 {
			continue
		}
		row := ClassRow{Class: c.String(), Kind: c.kind(), Events: n, Allow: pct(d[0], n), StepUp: pct(d[1], n), Deny: pct(d[2], n)}
		info := classes[c]
		switch {
		case c.isTransaction():
			row.Informational = transactionNote(c)
		case c == checkoutLarge:
			row.Informational = "reported: a step-up on an occasional large purchase is acceptable"
		case c == takeoverPrelude:
			row.Informational = "the steps before the attackers' checkouts, which are what counts"
		case !info.goal && info.legit:
			row.Informational = "a wrong password fails whatever riskd answers"
		case !info.goal:
			row.Informational = "wrong passwords, which fail whatever riskd answers"
		case c == knownBad && set.ListIndex(knownBadList) < 0:
			row.Informational = fmt.Sprintf("no rule tests in_list(%q)", knownBadList)
		}
		for a := range 3 {
			dr := DecisionRules{Decision: decisionNames[a], Events: d[a], NoRule: t.noRule[c][a]}
			for i, k := range t.fired[c][a] {
				if k > 0 {
					dr.Rules = append(dr.Rules, RuleShare{Rule: t.rules[i], Events: k, Percent: pct(k, d[a])})
				}
			}
			slices.SortStableFunc(dr.Rules, func(x, y RuleShare) int { return y.Events - x.Events })
			if d[a] > 0 {
				row.Fired = append(row.Fired, dr)
			}
		}
		rep.Classes = append(rep.Classes, row)
		if row.Informational != "" || c.isTransaction() || checkoutClass(c) {
			continue
		}
		if info.legit {
			legit += n
			legitStepUp += d[1]
			legitDeny += d[2]
		} else if info.takeover {
			takeover += n
			stopped += d[1] + d[2]
		}
	}
	rep.Goals = []Goal{
		{Name: fmt.Sprintf("legitimate logins stepped up <= %g %%", goalLegitStepUp), Events: legit, Measured: pct(legitStepUp, legit)},
		{Name: fmt.Sprintf("legitimate logins denied <= %g %%", goalLegitDeny), Events: legit, Measured: pct(legitDeny, legit)},
		{Name: fmt.Sprintf("takeovers stepped up or denied >= %g %%", goalTakeover), Events: takeover, Measured: pct(stopped, takeover)},
	}
	rep.Goals[0].Pass = legit > 0 && rep.Goals[0].Measured <= goalLegitStepUp
	rep.Goals[1].Pass = legit > 0 && rep.Goals[1].Measured <= goalLegitDeny
	rep.Goals[2].Pass = takeover > 0 && rep.Goals[2].Measured >= goalTakeover
	rep.Goals = append(rep.Goals, transactionGoals(t)...)
	rep.Goals = append(rep.Goals, checkoutGoals(t)...)
}

func pct(k, n int) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(k) / float64(n)
}

// WriteText prints the report for people: the run, the table per class, the goals and, with explain, the rules
// that fired per class and decision.
func (rep *Report) WriteText(w io.Writer, explain bool) {
	fmt.Fprintf(w, "riskd scenario evaluation\n")
	fmt.Fprintf(w, "  population   %d users, seed %d; %d days of warm-up from %s, then %d days measured\n",
		rep.Users, rep.Seed, rep.WarmupDays, rep.Start.Format("2006-01-02"), rep.Days)
	fmt.Fprintf(w, "  rules        %s (%s)\n", rep.Rules, rep.RulesSource)
	fmt.Fprintf(w, "  geoip        %s (%d networks)\n", rep.GeoIP, rep.Networks)
	fmt.Fprintf(w, "  user agents  %s\n", rep.UserAgents)
	var outs []string
	for _, k := range sortedKeys(rep.Outcomes) {
		outs = append(outs, fmt.Sprintf("%s %d", k, rep.Outcomes[k]))
	}
	fmt.Fprintf(w, "  replayed     %d events in %.1f s (%.0f events/s); outcomes reported: %s\n\n",
		rep.Events, rep.Seconds, float64(rep.Events)/max(rep.Seconds, 1e-9), strings.Join(outs, ", "))

	fmt.Fprintf(w, "%-22s %-6s %8s %8s %9s %8s\n", "class", "kind", "events", "allow %", "step_up %", "deny %")
	for _, r := range rep.Classes {
		note := ""
		if r.Informational != "" {
			note = "  (informational: " + r.Informational + ")"
		}
		fmt.Fprintf(w, "%-22s %-6s %8d %8.2f %9.2f %8.2f%s\n", r.Class, r.Kind, r.Events, r.Allow, r.StepUp, r.Deny, note)
	}
	fmt.Fprintf(w, "\n%-46s %8s %9s  %s\n", "goal", "events", "measured", "")
	for _, g := range rep.Goals {
		verdict := "MISS"
		if g.Pass {
			verdict = "PASS"
		}
		fmt.Fprintf(w, "%-46s %8d %7.2f %%  %s\n", g.Name, g.Events, g.Measured, verdict)
	}
	if !explain {
		return
	}
	fmt.Fprintf(w, "\nrules that fired, per class and decision (share of those events; top 5)\n")
	for _, r := range rep.Classes {
		fmt.Fprintf(w, "%s (%s)\n", r.Class, r.Kind)
		for _, d := range r.Fired {
			var parts []string
			for _, s := range d.Rules[:min(len(d.Rules), 5)] {
				parts = append(parts, fmt.Sprintf("%s %.1f %%", s.Rule, s.Percent))
			}
			if d.NoRule > 0 {
				parts = append(parts, fmt.Sprintf("no rule %.1f %%", pct(d.NoRule, d.Events)))
			}
			fmt.Fprintf(w, "  %-8s %8d  %s\n", d.Decision, d.Events, strings.Join(parts, ", "))
		}
	}
}

// WriteCSV writes the table, one row per class.
func (rep *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"class", "kind", "events", "allow_pct", "step_up_pct", "deny_pct", "informational", "top_rules"})
	for _, r := range rep.Classes {
		var top []string
		for _, d := range r.Fired {
			for _, s := range d.Rules[:min(len(d.Rules), 3)] {
				top = append(top, fmt.Sprintf("%s:%s:%d", d.Decision, s.Rule, s.Events))
			}
		}
		cw.Write([]string{r.Class, r.Kind, strconv.Itoa(r.Events), f2(r.Allow), f2(r.StepUp), f2(r.Deny), r.Informational, strings.Join(top, " ")})
	}
	cw.Flush()
	return cw.Error()
}

func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
