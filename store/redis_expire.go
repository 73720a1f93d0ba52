package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/rueidis"
)

// sweepLock is how long the instance that took the retention lock keeps it: the other instances skip their
// sweeps meanwhile, so that N instances do not sweep the same keys N times.
const sweepLock = 50 * time.Minute

// Expire implements State. Profiles in Redis expire one retention period after their last change, and every
// write drops entries older than the retention; this sweep catches the rest (entries of a profile changed
// recently enough to live on, but not recently enough to have been trimmed). One instance sweeps at a time; it
// scans every node for profile keys and rewrites the profiles that change, with compare-and-set.
func (r *Redis) Expire(ctx context.Context, cutoff int64) (int, error) {
	n, _ := r.local.Expire(ctx, cutoff)
	c := r.conn()
	if c == nil {
		return n, r.unavailable()
	}
	var id [8]byte
	rand.Read(id[:])
	ok, err := c.Do(ctx, c.B().Set().Key(retentionLock).Value(hex.EncodeToString(id[:])).Nx().
		Px(sweepLock).Build()).AsBool()
	if rueidis.IsRedisNil(err) {
		return n, nil // another instance is sweeping
	}
	if err != nil || !ok {
		return n, fmt.Errorf("redis retention lock: %w", err)
	}
	changed := 0
	for _, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(profilePattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return n + changed, fmt.Errorf("redis retention scan: %w", err)
			}
			k, err := r.expireKeys(ctx, c, e.Elements, cutoff)
			changed += k
			if err != nil {
				return n + changed, err
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	r.metrics.expiredProfiles(changed)
	return n + changed, nil
}

// expireKeys applies the cutoff to the profiles at keys and writes back those that changed.
func (r *Redis) expireKeys(ctx context.Context, c rueidis.Client, keys []string, cutoff int64) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	gets := make([]rueidis.Completed, len(keys))
	for i, k := range keys {
		gets[i] = c.B().Get().Key(k).Build()
	}
	var cmds []rueidis.Completed
	var calls []*call
	ttl := itoa(r.cfg.Retention.Milliseconds())
	for i, res := range c.DoMulti(ctx, gets...) {
		var p Profile
		old, err := res.AsBytes()
		if rueidis.IsRedisNil(err) {
			continue // expired meanwhile
		}
		if err != nil {
			return 0, fmt.Errorf("redis retention read: %w", err)
		}
		if DecodeProfile(old, &p) != nil {
			continue
		}
		changed, empty := p.Expire(cutoff)
		if !changed && !empty {
			continue
		}
		var val string
		if !empty {
			val = string(AppendProfile(nil, &p))
		}
		args := []string{string(old), val, ttl}
		cmds = append(cmds, r.cas.cmd(c, []string{keys[i]}, args...)) // rewrites existing profiles only: an erasure makes it miss
		calls = append(calls, &call{s: r.cas, keys: []string{keys[i]}, args: args})
	}
	if len(cmds) == 0 {
		return 0, nil
	}
	n := 0
	for _, res := range doMulti(ctx, c, cmds, calls) {
		ok, err := res.AsInt64()
		if err != nil {
			return n, fmt.Errorf("redis retention write: %w", err)
		}
		n += int(ok) // 0: the profile changed meanwhile, and that write applied the cutoff itself
	}
	return n, nil
}
