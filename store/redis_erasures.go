package store

import (
	"context"
	"strconv"

	"github.com/redis/rueidis"
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

// pollErasures drops the local copies of users erased (by any instance) since the last poll. Called by the
// probe goroutine only.
func (r *Redis) pollErasures(c rueidis.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := r.followErasures(ctx, c); err != nil {
		return // tried again at the next poll
	}
	for {
		streams, err := c.Do(ctx, c.B().Xread().Count(1000).Streams().Key(erasureStream).Id(r.erasedUpTo).Build()).AsXRead()
		if err != nil { // nil when nothing is new
			return
		}
		entries := streams[erasureStream]
		for _, e := range entries {
			if k, err := strconv.ParseUint(e.FieldValues["u"], 16, 64); err == nil {
				r.local.Erase(k)
			}
			r.erasedUpTo = e.ID
		}
		if len(entries) < 1000 {
			return
		}
	}
}
