package store

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// Tombstones make an erasure final. An instance cut off from Redis goes on deciding on local state and queues its
// writes (up to QueueLen, 65,536) until Redis is back; the same holds for one whose writer is merely behind. Were
// those writes sent after another instance erased the user, they would recreate the user's counters, facts and
// profile. So an erasure first sets riskd:{u:<user key>}:t to its time, and every script that changes a user's
// keys (counters, facts, profile) compares it with the time the change was made: changes made before the
// erasure are refused, and counted in riskd_state_erased_writes_dropped_total. Changes made after it go through:
// the user is new afterwards.
//
// The tombstone must outlive any write made before it. The writer drops a write queued for longer than
// maxQueuedAge (counted in riskd_state_writes_dropped_total), whatever held it (an outage, a full queue), so a
// write that reaches Redis was made at most maxQueuedAge before it is sent; a batch then takes at most a few
// adminTimeouts (a read, up to five compare-and-set rounds). tombstoneTTL adds an hour to maxQueuedAge for those
// seconds and for clocks that disagree. The time a change was made is the clock of the instance that made it, and
// the erasure's that of the instance that erased: erasureSkew moves the tombstone a second later, so that an
// instance whose clock runs up to a second ahead still has its earlier changes refused; the price is that changes
// made within a second after an erasure are refused too.
const (
	maxQueuedAge = 24 * time.Hour // a day's counters are the longest window; a login not taught in a day is stale
	tombstoneTTL = maxQueuedAge + time.Hour
	erasureSkew  = time.Second
)

// Erasures reach the other instances through a stream: every instance keeps a local copy of the profiles it
// served (its fallback while Redis is out of reach), and an erasure must remove those copies too. Each instance
// reads the stream from where it stopped, so one that was cut off from Redis catches up when it is back. The
// stream holds only the keyed hashes of erased users, and its last erasureStreamLen entries.
const (
	erasureStream    = keyPrefix + "erasures"
	erasureStreamLen = "100000"
)

// erasureCmd announces the erasure of user.
func erasureCmd(c rueidis.Client, user uint64) rueidis.Completed {
	return c.B().Xadd().Key(erasureStream).Maxlen().Almost().Threshold(erasureStreamLen).Id("*").
		FieldValue().FieldValue("u", UserKeyHex(user)).Build()
}

// followErasures starts following the stream at its end: a new instance holds no local copies yet.
func (r *Redis) followErasures(ctx context.Context, c rueidis.Client) error {
	if r.erasedUpTo != "" {
		return nil
	}
	last, err := c.Do(ctx, c.B().Xrevrange().Key(erasureStream).End("+").Start("-").Count(1).Build()).AsXRange()
	if err != nil {
		return err
	}
	r.erasedUpTo = "0-0"
	if len(last) > 0 {
		r.erasedUpTo = last[0].ID
	}
	return nil
}

// pollErasures drops the local copies of users erased (by any instance) since the last poll: the view, this
// instance's own record, whose field it then deletes (a write of it may have reached Redis after the erasure),
// and the profile. Called by the probe goroutine only; an error means it must be called again.
func (r *Redis) pollErasures(c rueidis.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := r.followErasures(ctx, c); err != nil {
		return err // tried again at the next poll
	}
	for {
		streams, err := c.Do(ctx, c.B().Xread().Count(1000).Streams().Key(erasureStream).Id(r.erasedUpTo).Build()).AsXRead()
		if rueidis.IsRedisNil(err) { // nothing is new
			return nil
		}
		if err != nil {
			return err
		}
		entries := streams[erasureStream]
		for _, e := range entries {
			if k, err := strconv.ParseUint(e.FieldValues["u"], 16, 64); err == nil {
				r.local.Erase(k)
				r.own[kindUser].delete(k)
				r.queue(redisWrite{kind: writeForget, subj: subjectOf(kindUser, k), field: r.field})
			}
			r.erasedUpTo = e.ID
		}
		if len(entries) < 1000 {
			return nil
		}
	}
}
