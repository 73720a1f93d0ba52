package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"
)

// Observe implements State: one pipelined round trip reads and counts the subjects, reads their facts and adds
// the attempt to them, and reads the profile. The same is done locally first; the local reading stands when
// Redis cannot answer in time, and the counts then wait in the write queue for Redis to come back.
func (r *Redis) Observe(s Subjects, at int64, count MetricSet, out *Reading) {
	r.local.Observe(s, at, count, out)
	c := r.conn()
	if c == nil {
		r.metrics.localRead()
		r.queue(redisWrite{kind: writeCount, subj: s, ms: count, at: at, facts: count != 0})
		return
	}
	stamp := time.Now().UnixMilli() // an erasure's tombstone refuses what was sent before it
	rcs := r.recordCalls(&s, at, count, count != 0, true, 1, stamp, c.Mode() == rueidis.ClientModeCluster)
	cmds := make([]rueidis.Completed, 0, len(rcs)+1)
	calls := make([]*call, 0, len(rcs)+1)
	for i := range rcs {
		cmd, cl := rcs[i].cmd(c, r.rec)
		cmds, calls = append(cmds, cmd), append(calls, cl)
	}
	if s.HasUser {
		cmds, calls = append(cmds, c.B().Get().Key(subjectKey(kindUser, s.User, 'p')).Build()), append(calls, nil)
	}
	if len(cmds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	res := doMulti(ctx, c, cmds, calls)
	cancel()

	// Parse everything before changing out: a partial answer must not mix Redis and local readings.
	var counts [numKinds][NumMetrics]Counts
	var fx Facts
	for i := range rcs {
		ms, err := subjectAnswers(res[i], len(rcs[i].kinds))
		if err == nil {
			for j, k := range rcs[i].kinds {
				if err = parseRecord(&ms[j], k, at, &counts[k], &fx); err != nil {
					break
				}
			}
		}
		if err != nil {
			r.readFailed(err, s, count, at, stamp)
			return
		}
	}
	var p Profile
	has := false
	if s.HasUser {
		var err error
		if has, err = parseProfile(res[len(rcs)], &p); err != nil {
			r.readFailed(err, s, count, at, stamp)
			return
		}
	}
	if r.late.Load() != 0 {
		r.late.Store(0)
	}
	for i := range rcs {
		for _, k := range rcs[i].kinds {
			*out.counts(k) = counts[k]
		}
	}
	out.Facts = fx
	if s.HasUser {
		out.HasProfile, out.Profile = has, p
		// Keep the local copy in step with Redis, for the decisions made while Redis is out of reach.
		if has {
			r.local.Profiles.Put(s.User, &p)
		} else {
			r.local.Profiles.Put(s.User, nil)
		}
	}
}

// readFailed handles a decision's read that Redis did not answer: the local reading stands.
//
// An error Redis replied with concerns one key (see replied). A late answer (the budget ran out) is not a failure
// of Redis either: the commands were sent and will run, counting the event there too, so they are not queued
// again, and only a few late answers in a row take Redis out of the request path. Any other error does at once,
// and the counts are queued for when Redis is back; if the script ran before the connection broke, the event is
// counted twice: an attack reads slightly high, never low.
func (r *Redis) readFailed(err error, s Subjects, count MetricSet, at, stamp int64) {
	r.metrics.localRead()
	switch {
	case replied(err):
		r.metrics.redisError() // one bad key: this decision goes without it
	case errors.Is(err, context.DeadlineExceeded) && r.late.Add(1) < maxLate:
		r.metrics.redisError()
	default:
		r.fail(err)
		r.queue(redisWrite{kind: writeCount, subj: s, ms: count, at: at, facts: count != 0, stamp: stamp})
	}
}

// parseProfile decodes a GET of a profile; a missing key is no profile.
func parseProfile(res rueidis.RedisResult, p *Profile) (bool, error) {
	b, err := res.AsBytes()
	if rueidis.IsRedisNil(err) {
		*p = Profile{}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redis profile read: %w", err)
	}
	if err := DecodeProfile(b, p); err != nil {
		return false, fmt.Errorf("redis profile read: %w", err)
	}
	return true, nil
}

// Count implements State.
func (r *Redis) Count(s Subjects, ms MetricSet, at int64) {
	r.local.Count(s, ms, at)
	r.queue(redisWrite{kind: writeCount, subj: s, ms: ms, at: at})
}

// Apply implements State.
func (r *Redis) Apply(user uint64, op ProfileOp) {
	r.local.Apply(user, op)
	r.queue(redisWrite{kind: writeProfile, subj: Subjects{User: user, HasUser: true}, op: op})
}

// Export implements State: what Redis holds (the shared truth), or ErrUnavailable while it is out of reach.
func (r *Redis) Export(user uint64, at int64, out *UserData) (bool, error) {
	cl := r.conn()
	if cl == nil {
		return false, r.unavailable()
	}
	rcs := r.recordCalls(&Subjects{User: user, HasUser: true}, at, 0, false, true, 1, time.Now().UnixMilli(), true)
	cmd, sc := rcs[0].cmd(cl, r.rec)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	res := doMulti(ctx, cl, []rueidis.Completed{cmd, cl.B().Get().Key(subjectKey(kindUser, user, 'p')).Build()}, []*call{sc, nil})
	if err := exportRecord(res[0], at, &out.Velocity, &out.Facts); err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var err error
	if out.HasProfile, err = parseProfile(res[1], &out.Profile); err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return out.held(), nil
}

// exportRecord spells out a user's record, as recordScript returned it; none is all zeros.
func exportRecord(res rueidis.RedisResult, at int64, counts *[NumMetrics]Counts, out *UserFacts) error {
	*counts, *out = [NumMetrics]Counts{}, UserFacts{}
	ms, err := subjectAnswers(res, 1)
	if err != nil {
		return err
	}
	if ms[0].IsNil() {
		return nil
	}
	var fx Facts
	if err := parseRecord(&ms[0], kindUser, at, counts, &fx); err != nil {
		return err
	}
	b, _ := ms[0].AsBytes()
	if f := b[ringBytes:]; le.Uint32(f) != 0 {
		var rec userFacts
		rec.decodeBody(f)
		rec.export(at, out)
	}
	return nil
}

func (r *Redis) unavailable() error {
	if err := r.Health(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return ErrUnavailable
}
