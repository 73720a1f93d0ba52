package engine

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// Metrics counts decisions, reasons and outcomes, and keeps a latency histogram, in one metrics.Set that the
// server exposes. A nil *Metrics records nothing, so tools such as backtests pay nothing for it.
type Metrics struct {
	set       *metrics.Set
	mfa       [2]*metrics.Counter
	outcomes  [features.NumOutcomeTypes]*metrics.Counter
	latency   *Histogram
	fallbacks [rules.Deny + 1]*metrics.Counter
	shadow    [rules.Deny + 1][rules.Deny + 1]*metrics.Counter // [live][shadow], only where they differ
}

// NewMetrics registers the engine's metrics in set.
func NewMetrics(set *metrics.Set) *Metrics {
	m := &Metrics{set: set}
	m.mfa[0] = set.NewCounter(fmt.Sprintf(`riskd_reasons_total{code=%q}`, CodeMFAAlways))
	m.mfa[1] = set.NewCounter(fmt.Sprintf(`riskd_reasons_total{code=%q}`, CodeMFASensitive))
	for t := features.LoginSucceeded; t < features.NumOutcomeTypes; t++ {
		m.outcomes[t] = set.NewCounter(fmt.Sprintf(`riskd_outcomes_total{type=%q}`, t.String()))
	}
	for a := rules.Allow; a <= rules.Deny; a++ {
		m.fallbacks[a] = set.NewCounter(fmt.Sprintf(`riskd_fallback_decisions_total{decision=%q}`, a.String()))
	}
	for l := rules.Allow; l <= rules.Deny; l++ {
		for sh := rules.Allow; sh <= rules.Deny; sh++ {
			if l != sh {
				m.shadow[l][sh] = set.NewCounter(fmt.Sprintf(`riskd_shadow_disagreements_total{live=%q,shadow=%q}`, l.String(), sh.String()))
			}
		}
	}
	m.latency = NewHistogram("riskd_decision_duration_seconds", DefaultLatencyBounds)
	set.RegisterMetricsWriter(m.latency.WritePrometheus)
	return m
}

// counter is a nil-safe counter.
type counter struct{ c *metrics.Counter }

func (c counter) Inc() {
	if c.c != nil {
		c.c.Inc()
	}
}

// ruleCounters returns one "rule fired" counter per rule of s. Counters are shared by rule id across rule
// sets, so a reload keeps counting where the previous set left off.
func (m *Metrics) ruleCounters(s *rules.Set) []counter {
	cs := make([]counter, len(s.Rules))
	if m == nil {
		return cs
	}
	for i := range s.Rules {
		r := &s.Rules[i]
		mode := "enforce"
		if r.Shadow {
			mode = "shadow"
		}
		cs[i].c = m.set.GetOrCreateCounter(fmt.Sprintf(`riskd_rule_fired_total{rule=%q,mode=%q}`, r.ID, mode))
	}
	return cs
}

// Tenant labels of riskd_decisions_total besides the tenants a rule set has overlays for.
const (
	defaultTenantLabel = "default" // events that name no tenant, and the tenant named default
	otherTenantLabel   = "other"   // every tenant the live set does not name: the label set stays bounded
	// maxLabelledTenants bounds the tenants a set's counters name (the first by name; the rest count as other),
	// so that a set with thousands of overlays cannot make thousands of series per event type and decision.
	maxLabelledTenants = 256
)

// decisionCounters are the riskd_decisions_total counters of one live rule set, by tenant, event type and
// decision, made when the set goes live: a decision only indexes them (no label formatting, no map). Counters
// are shared by labels across sets, so a reload keeps counting where the previous set left off.
type decisionCounters struct {
	byKey         []*metrics.Counter // [tenant][event type][decision]
	labelled      int                // the set's tenants (by TenantIndex) below this have a label of their own
	defaultTenant int                // the tenant index of "default"
	otherTenant   int                // the tenant index of every tenant without a label
}

const decisionsPerTenant = int(features.NumEventTypes) * int(rules.Deny+1)

// decisionCounters prepares the decision counters of s; nil when m is nil.
func (m *Metrics) decisionCounters(s *rules.Set) *decisionCounters {
	if m == nil {
		return nil
	}
	tenants := s.Tenants()
	if len(tenants) > maxLabelledTenants {
		tenants = tenants[:maxLabelledTenants]
	}
	dc := &decisionCounters{labelled: len(tenants), defaultTenant: len(tenants), otherTenant: len(tenants) + 1}
	if i := s.TenantIndex(defaultTenantLabel); i >= 0 && i < len(tenants) {
		dc.defaultTenant = i // an overlay for "default" is the default tenant's label
	}
	labels := append(tenants, defaultTenantLabel, otherTenantLabel)
	dc.byKey = make([]*metrics.Counter, len(labels)*decisionsPerTenant)
	for ti, tenant := range labels {
		if ti == len(tenants) && dc.defaultTenant != len(tenants) {
			continue // "default" has its overlay's label already
		}
		for t := features.EventType(0); t < features.NumEventTypes; t++ {
			event := t.String()
			if event == "" {
				event = "other"
			}
			for a := rules.Allow; a <= rules.Deny; a++ {
				dc.byKey[ti*decisionsPerTenant+int(t)*int(rules.Deny+1)+int(a)] = m.set.GetOrCreateCounter(
					fmt.Sprintf(`riskd_decisions_total{decision=%q,event=%q,tenant=%q}`, a.String(), event, tenant))
			}
		}
	}
	return dc
}

// counter returns the counter of a decision a on an event of type t of tenant, judged by set.
func (dc *decisionCounters) counter(set *rules.Set, tenant string, t features.EventType, a rules.Action) *metrics.Counter {
	ti := set.TenantIndex(tenant)
	if ti < 0 || ti >= dc.labelled {
		ti = dc.otherTenant
		if tenant == defaultTenantLabel || tenant == "" {
			ti = dc.defaultTenant
		}
	}
	if t >= features.NumEventTypes {
		t = 0
	}
	return dc.byKey[ti*decisionsPerTenant+int(t)*int(rules.Deny+1)+int(a)]
}

// decided counts d, an answer to an event of type t of tenant under the live set l.
func (m *Metrics) decided(d *Decision, l *liveRules, tenant string, t features.EventType) {
	if m == nil {
		return
	}
	if c := l.decisions.counter(l.set, tenant, t, d.Action); c != nil {
		c.Inc()
	}
	m.latency.Observe(d.Took.Seconds())
	for i := range d.Reasons {
		switch d.Reasons[i].Code {
		case CodeMFAAlways:
			m.mfa[0].Inc()
		case CodeMFASensitive:
			m.mfa[1].Inc()
		}
	}
}

func (m *Metrics) shadowed(live, shadow rules.Action) {
	if m == nil || live == shadow {
		return
	}
	m.shadow[live][shadow].Inc()
}

func (m *Metrics) fallback(a rules.Action) {
	if m == nil {
		return
	}
	m.fallbacks[a].Inc()
}

func (m *Metrics) outcome(t features.OutcomeType) {
	if m == nil || int(t) >= len(m.outcomes) || m.outcomes[t] == nil {
		return
	}
	m.outcomes[t].Inc()
}

// DefaultLatencyBounds are the upper bounds (seconds) of the decision latency buckets: fine-grained around
// the microseconds a decision takes in process, coarse up to the milliseconds that would mean trouble.
var DefaultLatencyBounds = []float64{
	1e-6, 2.5e-6, 5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3,
}

// Histogram is a Prometheus histogram with fixed bucket bounds, lock-free and allocation-free to observe.
// (VictoriaMetrics' own histogram exposes "vmrange" buckets, which Prometheus cannot aggregate.)
type Histogram struct {
	name   string
	bounds []float64
	counts []atomic.Uint64 // len(bounds)+1; the last is +Inf
	sumNs  atomic.Uint64   // sum in nanoseconds, to stay an integer
}

// NewHistogram returns a histogram named name with the given ascending upper bounds (seconds).
func NewHistogram(name string, bounds []float64) *Histogram {
	return &Histogram{name: name, bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe adds one observation of v seconds.
func (h *Histogram) Observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(math.Max(v, 0) * 1e9))
}

// WritePrometheus writes h in the Prometheus text format (cumulative buckets).
func (h *Histogram) WritePrometheus(w io.Writer) {
	var cum uint64
	buf := make([]byte, 0, 64)
	for i := range h.counts {
		cum += h.counts[i].Load()
		le := "+Inf"
		if i < len(h.bounds) {
			le = strconv.FormatFloat(h.bounds[i], 'g', -1, 64)
		}
		buf = fmt.Appendf(buf[:0], "%s_bucket{le=%q} %d\n", h.name, le, cum)
		w.Write(buf)
	}
	fmt.Fprintf(w, "%s_sum %g\n%s_count %d\n", h.name, float64(h.sumNs.Load())/1e9, h.name, cum)
}
