package server

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/rules"
)

// The console's overview (GET /v1/stats, docs/CONSOLE-API.md): decisions by action, shed requests and
// latency quantiles per 10 s over the last hour, the rules that fired most in that hour, and the instances
// sharing the control store. A ticker reads the counters the request path keeps anyway into a fixed ring;
// nothing here runs per decision.

const (
	statsInterval = 10 * time.Second
	statsPoints   = 360 // an hour of statsInterval
	statsTopRules = 10
)

// statsPoint is one interval of the series.
type statsPoint struct {
	T      int64   `json:"t"` // end of the interval, unix seconds
	Allow  uint64  `json:"allow"`
	StepUp uint64  `json:"step_up"`
	Deny   uint64  `json:"deny"`
	Shed   uint64  `json:"shed"`
	P50    float64 `json:"p50_us"`
	P99    float64 `json:"p99_us"`
}

// ruleFired is how often one rule fired.
type ruleFired struct {
	Rule  string `json:"rule"`
	Fired uint64 `json:"fired"`
}

// overview is the ring the ticker fills and GET /v1/stats reads.
type overview struct {
	mu     sync.Mutex
	points [statsPoints]statsPoint
	fired  [statsPoints][]ruleFired // per point, the rules that fired in its interval
	n      int                      // points filled, up to statsPoints
	next   int                      // where the next point goes

	// The counts at the last tick, owned by tick.
	prev      engine.Totals
	prevShed  uint64
	prevFired map[string]uint64
	cur       engine.Totals

	stop chan struct{}
	once sync.Once
}

// startOverview takes the counts as they are now as the baseline and ticks every statsInterval until
// stopOverview.
func (s *Server) startOverview() {
	o := &overview{stop: make(chan struct{})}
	s.overview = o
	s.engine.Totals(&o.prev)
	o.prevShed = s.shed.Get()
	o.prevFired = map[string]uint64{}
	s.engine.RulesFired(func(rule string, n uint64) { o.prevFired[rule] = n })
	go func() {
		t := time.NewTicker(statsInterval)
		defer t.Stop()
		for {
			select {
			case <-o.stop:
				return
			case now := <-t.C:
				s.tickOverview(now)
			}
		}
	}()
}

func (s *Server) stopOverview() { s.overview.once.Do(func() { close(s.overview.stop) }) }

// tickOverview closes the interval ending at now: what was counted since the last tick becomes a point.
func (s *Server) tickOverview(now time.Time) {
	o := s.overview
	s.engine.Totals(&o.cur)
	shed := s.shed.Get()
	p := statsPoint{T: now.Unix(), Shed: shed - o.prevShed,
		Allow:  o.cur.Decisions[rules.Allow] - o.prev.Decisions[rules.Allow],
		StepUp: o.cur.Decisions[rules.StepUp] - o.prev.Decisions[rules.StepUp],
		Deny:   o.cur.Decisions[rules.Deny] - o.prev.Decisions[rules.Deny]}
	delta := make([]uint64, len(o.cur.Latency))
	for i := range delta {
		delta[i] = o.cur.Latency[i] - o.prev.Latency[i]
	}
	bounds := s.engine.LatencyBounds()
	p.P50, p.P99 = quantileUs(delta, bounds, 0.5), quantileUs(delta, bounds, 0.99)

	// A rule counts from the first tick that saw it live: its counter may hold fires from before (it outlives
	// rule sets), which did not happen in this interval.
	var fired []ruleFired
	seen := make(map[string]uint64, len(o.prevFired))
	s.engine.RulesFired(func(rule string, n uint64) {
		if before, ok := o.prevFired[rule]; ok && n > before {
			fired = append(fired, ruleFired{Rule: rule, Fired: n - before})
		}
		seen[rule] = n
	})
	o.prevFired = seen
	o.prev.Decisions = o.cur.Decisions
	o.prev.Latency = append(o.prev.Latency[:0], o.cur.Latency...)
	o.prevShed = shed

	o.mu.Lock()
	o.points[o.next], o.fired[o.next] = p, fired
	o.next = (o.next + 1) % statsPoints
	o.n = min(o.n+1, statsPoints)
	o.mu.Unlock()
}

// quantileUs estimates the q-quantile of the observations counted per bucket (upper bounds in seconds; the
// last bucket is above every bound) in microseconds, interpolating within the bucket; 0 without observations.
func quantileUs(counts []uint64, bounds []float64, q float64) float64 {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum float64
	for i, c := range counts {
		if c == 0 || cum+float64(c) < rank {
			cum += float64(c)
			continue
		}
		if i >= len(bounds) {
			return bounds[len(bounds)-1] * 1e6 // beyond the last bound: say the bound, the most that is known
		}
		lo := 0.0
		if i > 0 {
			lo = bounds[i-1]
		}
		return (lo + (bounds[i]-lo)*(rank-cum)/float64(c)) * 1e6
	}
	return bounds[len(bounds)-1] * 1e6
}

// statsAnswer is the body of GET /v1/stats.
type statsAnswer struct {
	IntervalS      int                `json:"interval_s"`
	Series         []statsPoint       `json:"series"`
	TopRules       []ruleFired        `json:"top_rules"`
	Instances      []control.Instance `json:"instances"`
	InstancesError string             `json:"instances_error,omitempty"`
}

// handleStats serves GET /v1/stats to a key of the admin or read scope, of every tenant.
func (s *Server) handleStats(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		writeError(ctx, methodNotAllowed("GET"))
		return
	}
	if _, ok := s.authorizeGlobal(ctx, ScopeAdmin|ScopeRead); !ok {
		return
	}
	a := statsAnswer{IntervalS: int(statsInterval / time.Second), Series: []statsPoint{}, TopRules: []ruleFired{}}
	totals := map[string]uint64{}
	o := s.overview
	o.mu.Lock()
	for k := range o.n {
		i := (o.next - o.n + k + statsPoints) % statsPoints
		a.Series = append(a.Series, o.points[i])
		for _, f := range o.fired[i] {
			totals[f.Rule] += f.Fired
		}
	}
	o.mu.Unlock()
	for rule, n := range totals {
		a.TopRules = append(a.TopRules, ruleFired{Rule: rule, Fired: n})
	}
	slices.SortFunc(a.TopRules, func(x, y ruleFired) int {
		return cmp.Or(cmp.Compare(y.Fired, x.Fired), cmp.Compare(x.Rule, y.Rule))
	})
	a.TopRules = a.TopRules[:min(len(a.TopRules), statsTopRules)]

	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var err error
	if a.Instances, err = s.control.Instances(c); err != nil {
		a.InstancesError = err.Error() // the page still shows this instance and the series
	}
	body, err := json.Marshal(a)
	if err != nil {
		writeError(ctx, err)
		return
	}
	ctx.SetContentType(contentTypeJSON)
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetBody(body)
}
