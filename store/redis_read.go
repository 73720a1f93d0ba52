package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/rueidis"
)

// Observe implements State: the views of the event's subjects that are older than Fresh are read again from
// Redis (every instance's contributions, merged; with the user, its profile), in one pipelined round trip; then
// the event is read and counted on the view, as memory does, and counted in this instance's contributions,
// which the writer sends. The local view stands when Redis cannot answer in time.
func (r *Redis) Observe(s Subjects, at int64, count MetricSet, out *Reading) {
	var p Profile
	has, read := false, false
	if c := r.conn(); c != nil {
		var err error
		if read, has, err = r.refresh(c, &s, at, false, r.cfg.Timeout, &p); err != nil {
			r.readFailed(err)
		} else if r.late.Load() != 0 {
			r.late.Store(0)
		}
	} else {
		r.metrics.localRead()
	}
	r.local.Observe(s, at, count, out)
	r.countOwn(&s, at, count)
	r.queue(redisWrite{kind: writeCount, subj: s, ms: count, at: at})
	if read {
		out.HasProfile, out.Profile = has, p
		// Keep the local copy in step with Redis, for the decisions made while Redis is out of reach.
		if has {
			r.local.Profiles.Put(s.User, &p)
		} else {
			r.local.Profiles.Put(s.User, nil)
		}
	}
}

// readFailed handles a decision's read that Redis did not answer: the local view stands (the event is counted
// and queued as any other).
//
// An error Redis replied with concerns one key (see replied). A late answer (the budget ran out) is not a
// failure of Redis either, and only a few late answers in a row take Redis out of the request path. Any other
// error does at once.
func (r *Redis) readFailed(err error) {
	r.metrics.localRead()
	switch {
	case replied(err):
		r.metrics.redisError() // one bad key: this decision goes without it
	case errors.Is(err, context.DeadlineExceeded) && r.late.Add(1) < maxLate:
		r.metrics.redisError()
	default:
		r.fail(err)
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
	for k := range numKinds {
		if key, has := s.subject(k); has && ms != 0 {
			r.own[k].count(key, ms, at)
		}
	}
	r.queue(redisWrite{kind: writeCount, subj: s, ms: ms, at: at})
}

// Apply implements State.
func (r *Redis) Apply(user uint64, op ProfileOp) {
	r.local.Apply(user, op)
	r.queue(redisWrite{kind: writeProfile, subj: Subjects{User: user, HasUser: true}, op: op})
}

// Export implements State: what Redis holds (every instance's contributions, this instance's written first),
// or ErrUnavailable while it is out of reach. It reads Redis only: an instance that has not yet read another's
// erasure of the user still holds its own copy, which Redis no longer does.
func (r *Redis) Export(user uint64, at int64, out *UserData) (bool, error) {
	c := r.conn()
	if c == nil {
		return false, r.unavailable()
	}
	if err := r.barrier(adminTimeout); err != nil {
		return false, err
	}
	probe := r.probeOld.Load()
	cmds := []rueidis.Completed{c.B().Hgetall().Key(subjectKey(kindUser, user, contribSuffix)).Build()}
	if probe {
		cmds = append(cmds, c.B().Get().Key(subjectKey(kindUser, user, 'r')).Build(),
			c.B().Get().Key(subjectKey(kindUser, user, 'v')).Build(), c.B().Get().Key(subjectKey(kindUser, user, 'x')).Build())
	}
	cmds = append(cmds, c.B().Get().Key(subjectKey(kindUser, user, 'p')).Build())
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	res := c.DoMulti(ctx, cmds...)
	var rd subjectContribs
	if err := r.parseContribs(kindUser, res, probe, at, &rd); err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if rd.own != nil {
		rd.bodies = append(rd.bodies, rd.own)
	}
	r.local.velocity[kindUser].exportMerged(rd.bodies, at, &out.Velocity, &out.Facts)
	var err error
	if out.HasProfile, err = parseProfile(res[len(res)-1], &out.Profile); err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return out.held(), nil
}

func (r *Redis) unavailable() error {
	if err := r.Health(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return ErrUnavailable
}
