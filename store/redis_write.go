package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

type writeKind uint8

const (
	writeCount   writeKind = iota + 1 // write this instance's records of the subjects, counted locally (redis_contrib.go)
	writeForget                       // drop field from the subjects' contributions
	writeProfile                      // apply op to the user's profile
	writeBarrier                      // answer done once every earlier write is in Redis
	writeDone                         // written; skipped when a batch is retried
)

// redisWrite is one queued change, by value: queueing allocates nothing.
type redisWrite struct {
	kind  writeKind
	ms    MetricSet
	subj  Subjects
	at    int64
	op    ProfileOp
	field string // writeForget's
	done  chan error
	// stamp is when the change was made (ms, wall clock): an erasure's tombstone refuses changes made before it,
	// and a change queued longer than maxQueuedAge is dropped.
	stamp int64
}

const writeBatch = 512

// contribFlushEvery is RedisConfig.FlushEvery's default: a busy subject's record is written about 200 times a
// second per instance, however many decisions count it.
const contribFlushEvery = 5 * time.Millisecond

// queue hands w to the writer without waiting; a full queue drops it (counted).
func (r *Redis) queue(w redisWrite) {
	if w.kind == writeCount && (w.ms == 0 || !w.subj.any()) {
		return
	}
	if w.stamp == 0 {
		w.stamp = time.Now().UnixMilli()
	}
	select {
	case r.writes <- w:
	default:
		r.metrics.droppedWrite()
	}
}

// writer sends queued writes in pipelined batches. While Redis is out of reach it holds its batch (and the queue
// fills behind it) and retries once a probe finds Redis again.
func (r *Redis) writer() {
	defer r.wg.Done()
	batch := make([]redisWrite, 0, writeBatch)
	gather := time.NewTimer(time.Hour) // one timer for every batch's wait, reset each time
	gather.Stop()
	defer gather.Stop()
	for {
		select {
		case w := <-r.writes:
			batch = append(batch, w)
		case <-r.quit:
			r.finalFlush(batch)
			return
		}
		if d := r.cfg.FlushEvery; d > 0 && len(batch) < writeBatch && batch[0].kind != writeBarrier {
			gather.Reset(d)
			select { // gather the subjects counted meanwhile: each is written once
			case <-gather.C:
			case <-r.quit:
			}
		}
		batch = r.takeQueued(batch, writeBatch)
		for {
			c := r.conn()
			if c != nil {
				err := r.writeBatch(c, batch, time.Now())
				if err == nil {
					break
				}
				r.fail(err)
			}
			select {
			case <-r.quit:
				r.finalFlush(batch)
				return
			case <-time.After(probeEvery):
			}
		}
		clear(batch)
		batch = batch[:0]
	}
}

// takeQueued appends the writes waiting in the queue to batch, without waiting for more, until it holds n.
func (r *Redis) takeQueued(batch []redisWrite, n int) []redisWrite {
	for len(batch) < n {
		select {
		case w := <-r.writes:
			batch = append(batch, w)
		default:
			return batch
		}
	}
	return batch
}

// finalFlush gives the writes still queued at Close one attempt, so that a clean stop loses nothing while
// Redis is reachable. They go in batches of writeBatch, as the writer sends them: sent as one batch, the
// thousands an import leaves queued could not be written within one batch's adminTimeout on a loaded machine,
// and were all lost. Once a batch fails, Redis is out of reach and the rest is dropped without waiting for it.
func (r *Redis) finalFlush(batch []redisWrite) {
	var err error
	for {
		if batch = r.takeQueued(batch, writeBatch); len(batch) == 0 {
			return
		}
		err = ErrUnavailable
		if c := r.conn(); c != nil {
			err = r.writeBatch(c, batch, time.Now())
		}
		if err != nil {
			break
		}
		clear(batch)
		batch = batch[:0]
	}
	batch = r.takeQueued(batch, math.MaxInt) // the rest, not tried
	lost := 0
	for i := range batch {
		switch batch[i].kind {
		case writeBarrier:
			batch[i].done <- err
		case writeCount, writeForget, writeProfile:
			lost++
			r.metrics.droppedWrite()
		}
	}
	r.log.Warn("writes not sent to redis at stop", "writes", lost, "error", err.Error())
}

// writeBatch writes a batch in two round trips: the counts together with a read of every profile to change,
// then a compare-and-set of each changed profile. Profiles another instance changed in between are read and
// changed again (a few times at most). Writes that succeeded are marked done, so that a batch retried after an
// outage does not count them twice. Writes queued longer than maxQueuedAge are dropped (see tombstoneTTL), and
// changes to a user erased after they were made are refused by the user's tombstone.
func (r *Redis) writeBatch(c rueidis.Client, batch []redisWrite, now time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	stale := now.Add(-maxQueuedAge).UnixMilli()
	for i := range batch {
		if w := &batch[i]; (w.kind == writeCount || w.kind == writeForget || w.kind == writeProfile) && w.stamp < stale {
			w.kind = writeDone
			r.metrics.droppedWrite()
		}
	}
	ops := map[uint64]*userOps{}
	var users []uint64
	for i := range batch {
		if w := &batch[i]; w.kind == writeProfile {
			u := w.subj.User
			uo := ops[u]
			if uo == nil {
				uo = &userOps{}
				ops[u] = uo
				users = append(users, u)
			}
			uo.ops = append(uo.ops, w.op)
			uo.stamps = append(uo.stamps, w.stamp)
			uo.writes = append(uo.writes, i)
		}
	}
	cmds, owners := r.contribCmds(c, batch, nil, nil)
	if len(cmds) > 0 {
		failed := map[int]bool{}
		var err error
		for j, rs := range c.DoMulti(ctx, cmds...) {
			switch e := rs.Error(); {
			case e == nil:
			case replied(e): // a poisoned key: retrying would hold the queue forever
				r.metrics.droppedWrite()
			default:
				failed[owners[j]] = true
				err = e
			}
		}
		for _, i := range owners {
			if !failed[i] {
				batch[i].kind = writeDone
			}
		}
		if err != nil {
			return fmt.Errorf("redis write: %w", err)
		}
	}
	for i := range batch {
		if k := batch[i].kind; k == writeCount || k == writeForget {
			batch[i].kind = writeDone // nothing left to write: erased or evicted since
		}
	}
	cutoff := now.Add(-r.cfg.Retention).Unix()
	for attempt := 0; len(users) > 0; attempt++ {
		if attempt == 5 {
			// Five instances in a row changed these profiles under us: give up rather than hold the queue.
			for range users {
				r.metrics.conflict()
				r.metrics.droppedWrite()
			}
			break
		}
		var err error
		if users, err = r.applyProfiles(ctx, c, batch, users, ops, cutoff); err != nil {
			return err
		}
	}
	for i := range batch {
		switch batch[i].kind {
		case writeProfile:
			batch[i].kind = writeDone
		case writeBarrier:
			batch[i].done <- nil
			batch[i].kind = writeDone
		}
	}
	return nil
}

// userOps are one user's profile changes in a batch, in order, when they were made, and the batch entries they
// came from.
type userOps struct {
	ops    []ProfileOp
	stamps []int64
	writes []int
}

// dropErased drops (and counts) the ops made before the user's erasure at tomb (a tombstone's value; "" none),
// marking their batch entries done.
func (uo *userOps) dropErased(tomb string, batch []redisWrite, m *Metrics) {
	if tomb == "" {
		return
	}
	erasedAt, err := strconv.ParseInt(tomb, 10, 64)
	if err != nil {
		return // not a tombstone riskd wrote: the compare-and-set still holds the profile to it
	}
	n := 0
	for j := range uo.ops {
		if uo.stamps[j] < erasedAt {
			batch[uo.writes[j]].kind = writeDone
			m.erasedWrites(1)
			continue
		}
		uo.ops[n], uo.stamps[n], uo.writes[n] = uo.ops[j], uo.stamps[j], uo.writes[j]
		n++
	}
	uo.ops, uo.stamps, uo.writes = uo.ops[:n], uo.stamps[:n], uo.writes[:n]
}

// applyProfiles reads the users' profiles and tombstones, drops the ops made before an erasure, applies the
// others (and the retention cutoff) and writes the profiles back with compare-and-set, marking the batch entries
// of each user written done. It returns the users whose profile (or tombstone) changed in between, to be tried
// again.
func (r *Redis) applyProfiles(ctx context.Context, c rueidis.Client, batch []redisWrite, users []uint64, ops map[uint64]*userOps, cutoff int64) ([]uint64, error) {
	gets := make([]rueidis.Completed, 2*len(users))
	for i, u := range users {
		gets[i] = c.B().Get().Key(subjectKey(kindUser, u, 'p')).Build()
		gets[len(users)+i] = c.B().Get().Key(subjectKey(kindUser, u, 't')).Build()
	}
	res := c.DoMulti(ctx, gets...)
	done := func(u uint64) {
		for _, i := range ops[u].writes {
			batch[i].kind = writeDone
		}
	}
	var cmds []rueidis.Completed
	var calls []*call
	var who []uint64
	ttl := itoa(r.cfg.Retention.Milliseconds())
	for i, u := range users {
		var p Profile
		old, err := res[i].AsBytes()
		has := err == nil
		switch {
		case err == nil || rueidis.IsRedisNil(err):
		case replied(err):
			r.metrics.droppedWrite()
			done(u)
			continue
		default:
			return nil, fmt.Errorf("redis profile read: %w", err)
		}
		tomb, err := res[len(users)+i].ToString()
		switch {
		case err == nil:
		case rueidis.IsRedisNil(err):
			tomb = ""
		case replied(err):
			r.metrics.droppedWrite()
			done(u)
			continue
		default:
			return nil, fmt.Errorf("redis tombstone read: %w", err)
		}
		ops[u].dropErased(tomb, batch, r.metrics)
		if has && DecodeProfile(old, &p) != nil {
			has = false // a damaged profile is replaced, as if absent
		}
		changed := false
		for j := range ops[u].ops {
			op := &ops[u].ops[j]
			if !has && !op.Creates() {
				continue
			}
			p.Apply(op)
			has, changed = true, true
		}
		if !changed {
			done(u)
			continue
		}
		var val string
		if _, empty := p.Expire(cutoff); !empty {
			val = string(AppendProfile(nil, &p))
		}
		k, t := subjectKey(kindUser, u, 'p'), subjectKey(kindUser, u, 't')
		args := []string{string(old), val, ttl, tomb}
		cmds = append(cmds, r.cas.cmd(c, []string{k, t}, args...))
		calls = append(calls, &call{s: r.cas, keys: []string{k, t}, args: args})
		who = append(who, u)
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	var again []uint64
	for i, rs := range doMulti(ctx, c, cmds, calls) {
		ok, err := rs.AsInt64()
		if err != nil && replied(err) {
			r.metrics.droppedWrite()
			done(who[i])
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("redis profile write: %w", err)
		}
		if ok == 0 {
			again = append(again, who[i])
			continue
		}
		done(who[i])
	}
	return again, nil
}

// barrier waits until every write queued before it is in Redis.
func (r *Redis) barrier(timeout time.Duration) error {
	done := make(chan error, 1)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r.writes <- redisWrite{kind: writeBarrier, done: done}:
	case <-t.C:
		return r.unavailable()
	}
	select {
	case err := <-done:
		return err
	case <-t.C:
		return r.unavailable()
	}
}

// Erase implements State: locally, then in Redis after the writes queued before it, with a tombstone and one DEL
// of the keys of the user's slot (counters, facts, profile); the other instances drop their local copies when
// they read the erasure from the stream (within a probe interval), and the tombstone refuses the changes they
// made before it and still hold in their write queues (see tombstoneTTL).
func (r *Redis) Erase(user uint64) (bool, error) {
	had, _ := r.local.Erase(user)
	r.own[kindUser].delete(user)
	c := r.conn()
	if c == nil {
		return had, r.unavailable()
	}
	if err := r.barrier(adminTimeout); err != nil {
		return had, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	// The tombstone first: a change another instance makes between it and the DEL is refused, while one made
	// between a DEL and a tombstone would survive.
	erasedAt := time.Now().Add(erasureSkew).UnixMilli()
	res := c.DoMulti(ctx,
		c.B().Set().Key(subjectKey(kindUser, user, 't')).Value(itoa(erasedAt)).Px(tombstoneTTL).Build(),
		c.B().Del().Key(subjectKey(kindUser, user, contribSuffix), subjectKey(kindUser, user, 'p'),
			subjectKey(kindUser, user, 'r'), subjectKey(kindUser, user, 'v'), subjectKey(kindUser, user, 'x')).Build(), // and the layouts before's keys
		erasureCmd(c, user))
	err := res[0].Error()
	n, derr := res[1].AsInt64()
	err = errors.Join(err, derr, res[2].Error())
	if err != nil {
		return had, fmt.Errorf("redis erase: %w: %w", ErrUnavailable, err)
	}
	return had || n > 0, nil
}

// Sync waits until every write queued before it is in Redis. A bulk writer (riskd import) calls it now and then,
// so that it never outruns the bounded queue, which drops what does not fit. It waits up to syncTimeout: the
// queue ahead of it may hold thousands of compare-and-set writes, which a busy Redis takes seconds to apply.
func (r *Redis) Sync() error { return r.barrier(syncTimeout) }

// syncTimeout bounds Sync: long enough for a full write queue on a loaded machine, short enough that an import
// against a Redis that went away says so.
const syncTimeout = 30 * time.Second
