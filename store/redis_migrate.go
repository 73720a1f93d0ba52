package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// Releases before the record layout kept a subject's rings under ':v' and its facts under ':x'. A decision
// whose subject has no record looks for them (two GETs in the script), so that an upgrade loses nothing; once
// no subject is left only in those keys the look is wasted, and on a busy Redis that is a GET per new subject.
// So one instance moves every subject still in the old keys into its record, in the background, and then sets
// layoutKey: every instance that reads it stops looking.
const (
	layoutKey     = keyPrefix + "layout"       // "records": no subject is kept only in the layout before's keys
	layoutRecords = "records"                  // layoutKey's value
	migrateLock   = keyPrefix + "migrate-lock" // held by the instance moving the old keys
	oldPattern    = keyPrefix + "{*}:[vx]"
	migrateEvery  = time.Second // how often an instance waiting for another's move reads layoutKey
)

// migrator waits for Redis, then either finds layoutKey set, or takes migrateLock and moves the old keys, or
// waits for the instance that took it; in every case it stops the look for old keys once layoutKey is set.
func (r *Redis) migrator() {
	defer r.wg.Done()
	t := time.NewTicker(migrateEvery)
	defer t.Stop()
	for {
		if c := r.conn(); c != nil {
			done, err := r.migrate(c)
			if err != nil {
				r.log.Warn("moving the layout before's keys into records", "error", err.Error())
			}
			if done {
				r.probeOld.Store(false)
				return
			}
		}
		select {
		case <-r.quit:
			return
		case <-t.C:
		}
	}
}

// migrate reports whether layoutKey is set, moving the old keys first if no other instance is.
func (r *Redis) migrate(c rueidis.Client) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	v, err := c.Do(ctx, c.B().Get().Key(layoutKey).Build()).ToString()
	if err == nil && v == layoutRecords {
		return true, nil
	}
	if err != nil && !rueidis.IsRedisNil(err) {
		return false, err
	}
	ok, err := c.Do(ctx, c.B().Set().Key(migrateLock).Value("1").Nx().Px(10*time.Minute).Build()).AsBool()
	if rueidis.IsRedisNil(err) || err == nil && !ok {
		return false, nil // another instance is moving them
	}
	if err != nil {
		return false, err
	}
	defer c.Do(context.Background(), c.B().Del().Key(migrateLock).Build())
	moved := 0
	for _, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(oldPattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return false, fmt.Errorf("redis scan for the layout before's keys: %w", err)
			}
			n, err := r.moveOld(ctx, c, e.Elements)
			moved += n
			if err != nil {
				return false, err
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	if err := c.Do(ctx, c.B().Set().Key(layoutKey).Value(layoutRecords).Build()).Error(); err != nil {
		return false, err
	}
	if moved > 0 {
		r.log.Info("moved the layout before's keys into records", "subjects", moved)
	}
	return true, nil
}

// moveOld writes the record of each subject with keys of the layout before among keys (recordScript, counting
// nothing: it makes the record from them and deletes them). It returns the subjects it called the script for.
func (r *Redis) moveOld(ctx context.Context, c rueidis.Client, keys []string) (int, error) {
	var cmds []rueidis.Completed
	var calls []*call
	seen := map[string]bool{}
	stamp := time.Now().UnixMilli()
	for _, key := range keys {
		k, sk, ok := parseSubjectKey(key)
		if !ok || seen[key[:len(key)-1]] {
			continue
		}
		seen[key[:len(key)-1]] = true
		rc := r.subjectCall(k, sk, stamp)
		cmd, cl := rc.cmd(c, r.rec)
		cmds, calls = append(cmds, cmd), append(calls, cl)
	}
	if len(cmds) == 0 {
		return 0, nil
	}
	for _, res := range doMulti(ctx, c, cmds, calls) {
		if err := res.Error(); err != nil && !replied(err) {
			return 0, fmt.Errorf("redis move of the layout before's keys: %w", err)
		}
	}
	return len(cmds), nil
}

// parseSubjectKey reads the kind and the subject key out of a key subjectKey made.
func parseSubjectKey(key string) (kind, uint64, bool) {
	const hexAt = len(keyPrefix) + 3 // after "{t:"
	if len(key) != hexAt+16+3 || key[len(keyPrefix)] != '{' || key[hexAt-1] != ':' {
		return 0, 0, false
	}
	sk, err := strconv.ParseUint(key[hexAt:hexAt+16], 16, 64)
	if err != nil {
		return 0, 0, false
	}
	for k := range numKinds {
		if kinds[k].tag == key[len(keyPrefix)+1] {
			return k, sk, true
		}
	}
	return 0, 0, false
}
