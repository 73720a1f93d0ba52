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
	ix := bucketIndices(at)
	stamp := time.Now().UnixMilli() // an erasure's tombstone refuses what was sent before it
	args := velocityArgs(&ix, count, true, 1, stamp)
	// A velocity ring per kind, a facts record per kind keeping facts, and the profile.
	var cmds [numKinds + numFactsKinds + 1]rueidis.Completed
	var calls [len(cmds)]*call
	var dst [numKinds]*[NumMetrics]Counts
	n := 0
	for _, sub := range subjectsOf(&s) {
		if !sub.has {
			continue
		}
		k, tomb := subjectKey(sub.kind, sub.key, 'v'), tombstoneOf(sub)
		cmds[n] = r.vel.cmd(c, k, tomb, args...)
		calls[n] = &call{s: r.vel, key: k, tomb: tomb, args: args}
		dst[n] = out.counts(sub.kind)
		n++
	}
	nv := n
	var fc [numFactsKinds]factsCall
	facts := factsCalls(&s, at, count != 0, true, r.cfg.Retention.Milliseconds(), stamp, fc[:0])
	for _, f := range facts {
		cmds[n] = r.facts.cmd(c, f.key, f.tomb, f.args...)
		calls[n] = &call{s: r.facts, key: f.key, tomb: f.tomb, args: f.args}
		n++
	}
	if s.HasUser {
		cmds[n] = c.B().Get().Key(subjectKey(kindUser, s.User, 'p')).Build()
		n++
	}
	if n == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	res := doMulti(ctx, c, cmds[:n], calls[:n])
	cancel()

	// Parse everything before changing out: a partial answer must not mix Redis and local readings.
	var counts [numKinds][NumMetrics]Counts
	for i := range nv {
		if err := parseVelocity(res[i], &ix, &counts[i]); err != nil {
			r.readFailed(err, s, count, at, stamp)
			return
		}
	}
	var fx Facts
	for i, f := range facts {
		if err := parseFacts(res[nv+i], f.kind, at, &fx); err != nil {
			r.readFailed(err, s, count, at, stamp)
			return
		}
	}
	var p Profile
	has := false
	if s.HasUser {
		var err error
		if has, err = parseProfile(res[nv+len(facts)], &p); err != nil {
			r.readFailed(err, s, count, at, stamp)
			return
		}
	}
	if r.late.Load() != 0 {
		r.late.Store(0)
	}
	for i := range nv {
		*dst[i] = counts[i]
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

// tombstoneOf is the key of the tombstone that guards sub's keys: the user's, none for the other subjects.
func tombstoneOf(sub subject) string {
	if !kinds[sub.kind].tombstoned {
		return ""
	}
	return subjectKey(kindUser, sub.key, 't')
}

// subject is one velocity subject of an event.
type subject struct {
	has  bool
	kind kind
	key  uint64
}

// subjectsOf lists the velocity subjects of s, present or not, in kind order.
func subjectsOf(s *Subjects) [numKinds]subject {
	var subs [numKinds]subject
	for k := range numKinds {
		key, has := s.subject(k)
		subs[k] = subject{has, k, key}
	}
	return subs
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

// velocityArgs are the velocity script's arguments for n events in buckets ix, changed at stamp (ms).
func velocityArgs(ix *[NumWindows]int32, count MetricSet, reply bool, n int, stamp int64) []string {
	args := make([]string, 9)
	for w := range NumWindows {
		args[w] = itoa(int64(ix[w]))
	}
	args[4] = itoa(velocityTTLms)
	args[5] = itoa(int64(count))
	args[6] = "0"
	if reply {
		args[6] = "1"
	}
	args[7] = itoa(int64(n))
	args[8] = itoa(stamp)
	return args
}

// parseVelocity turns the velocity script's answer into counts as of buckets ix, with the same reading rule
// as the in-memory ring.
func parseVelocity(res rueidis.RedisResult, ix *[NumWindows]int32, out *[NumMetrics]Counts) error {
	*out = [NumMetrics]Counts{}
	b, err := res.AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("redis velocity read: %w", err)
	}
	if len(b) != ringBytes {
		return fmt.Errorf("redis velocity read: %d bytes: %w", len(b), ErrCorrupt)
	}
	var rec velocityRecord
	rec.decodeBody(b)
	rec.read(ix, out)
	return nil
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
	ix := bucketIndices(at)
	k, tomb := subjectKey(kindUser, user, 'v'), subjectKey(kindUser, user, 't')
	args := velocityArgs(&ix, 0, true, 1, time.Now().UnixMilli())
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	res := doMulti(ctx, cl, []rueidis.Completed{r.vel.cmd(cl, k, tomb, args...), cl.B().Get().Key(subjectKey(kindUser, user, 'p')).Build(),
		cl.B().Get().Key(subjectKey(kindUser, user, 'x')).Build()},
		[]*call{{s: r.vel, key: k, tomb: tomb, args: args}, nil, nil})
	if err := parseVelocity(res[0], &ix, &out.Velocity); err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var err error
	if out.HasProfile, err = parseProfile(res[1], &out.Profile); err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := exportFacts(res[2], at, &out.Facts); err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return out.held(), nil
}

// exportFacts spells out a GET of a user's facts record; a missing key is none.
func exportFacts(res rueidis.RedisResult, at int64, out *UserFacts) error {
	*out = UserFacts{}
	b, err := res.AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("redis facts read: %w", err)
	}
	if len(b) != userFactsLen {
		return fmt.Errorf("redis facts read: %d bytes: %w", len(b), ErrCorrupt)
	}
	var rec userFacts
	rec.decodeBody(b)
	rec.export(at, out)
	return nil
}

func (r *Redis) unavailable() error {
	if err := r.Health(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return ErrUnavailable
}
