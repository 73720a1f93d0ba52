package store

import (
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Metrics counts what the durable and shared backends do, in the server's metrics.Set. A nil *Metrics records
// nothing.
type Metrics struct {
	set             *metrics.Set
	flushes         *metrics.Counter
	flushErrors     *metrics.Counter
	flushedProfiles *metrics.Counter
	flushSeconds    *metrics.FloatCounter
	expired         *metrics.Counter
	redisErrors     *metrics.Counter
	localReads      *metrics.Counter
	dropped         *metrics.Counter
	erased          *metrics.Counter
	conflicts       *metrics.Counter
	redisUp         atomic.Int32
}

// NewMetrics registers the state metrics in set.
func NewMetrics(set *metrics.Set) *Metrics {
	m := &Metrics{
		set:             set,
		flushes:         set.NewCounter("riskd_state_flushes_total"),
		flushErrors:     set.NewCounter("riskd_state_flush_errors_total"),
		flushedProfiles: set.NewCounter("riskd_state_flushed_profiles_total"),
		flushSeconds:    set.NewFloatCounter("riskd_state_flush_seconds_total"),
		expired:         set.NewCounter("riskd_state_expired_profiles_total"),
		redisErrors:     set.NewCounter("riskd_state_redis_errors_total"),
		localReads:      set.NewCounter("riskd_state_local_reads_total"),
		dropped:         set.NewCounter("riskd_state_writes_dropped_total"),
		erased:          set.NewCounter("riskd_state_erased_writes_dropped_total"),
		conflicts:       set.NewCounter("riskd_state_write_conflicts_total"),
	}
	set.NewGauge("riskd_state_redis_up", func() float64 { return float64(m.redisUp.Load()) })
	return m
}

// profiles exposes the number of profiles held in memory.
func (m *Metrics) profiles(p *Profiles) {
	if m != nil {
		m.set.NewGauge("riskd_state_profiles", func() float64 { return float64(p.Len()) })
	}
}

func (m *Metrics) flushed(n int, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.flushes.Inc()
	m.flushSeconds.Add(took.Seconds())
	if err != nil {
		m.flushErrors.Inc()
		return
	}
	m.flushedProfiles.Add(n)
}

func (m *Metrics) expiredProfiles(n int) {
	if m != nil {
		m.expired.Add(n)
	}
}

func (m *Metrics) redisError() {
	if m != nil {
		m.redisErrors.Inc()
	}
}

// localRead counts a decision read from local state because Redis was out of reach.
func (m *Metrics) localRead() {
	if m != nil {
		m.localReads.Inc()
	}
}

func (m *Metrics) droppedWrite() {
	if m != nil {
		m.dropped.Inc()
	}
}

// erasedWrites counts changes to an erased user's keys refused because they were made before the erasure.
func (m *Metrics) erasedWrites(n int) {
	if m != nil {
		m.erased.Add(n)
	}
}

func (m *Metrics) conflict() {
	if m != nil {
		m.conflicts.Inc()
	}
}

func (m *Metrics) setRedisUp(up bool) {
	if m == nil {
		return
	}
	var v int32
	if up {
		v = 1
	}
	m.redisUp.Store(v)
}
