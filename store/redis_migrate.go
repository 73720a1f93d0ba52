package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// Releases before the contribution layout (redis_contrib.go) kept one record per subject that every instance
// changed with a script (':r'), and releases before that its rings under ':v' and its facts under ':x'. A
// subject read from Redis is also looked for there, so that an upgrade loses nothing; since that costs three
// GETs per subject read, one instance moves every such record into a field of its subject's hash (moveScript:
// a field of its own per record moved, as the contribution of an instance that stopped), in the background,
// and sets layoutKey once a whole scan found none left: every instance that reads it stops looking. During a
// rolling upgrade the instances of the release before go on writing ':r' records; the scans go on moving them
// (which costs their readers nothing but that record's lateness), and the look stops only once the last of
// them has stopped.
const (
	layoutKey      = keyPrefix + "layout"       // layoutContribs: no subject is kept in the layouts before's keys
	layoutContribs = "contributions"            // layoutKey's value
	migrateLock    = keyPrefix + "migrate-lock" // held by the instance moving the old keys
	oldPattern     = keyPrefix + "{*}:[rvx]"
	migrateEvery   = time.Second // how often an instance waiting for another's move reads layoutKey
)

// moveScript moves a subject's record of the layouts before into a field of its hash. KEYS: the hash, then the
// record, rings and facts keys; ARGV: the field, the lengths of a record and of its rings, the TTL (ms) to give
// the hash when no old key has one. The record is taken whole, or made of the rings and the facts (zeros for a
// part missing); parts of the wrong length are left out, as damaged. The hash keeps the longest TTL. Returns 1
// when a record was moved.
const moveScript = `
local rec, v, x = redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4])
local n, rn = tonumber(ARGV[2]), tonumber(ARGV[3])
local val = false
if rec and #rec == n then
  val = rec
else
  if v and #v ~= rn then v = false end
  if x and (#x ~= n - rn or n == rn) then x = false end
  if v or x then val = (v or string.rep('\0', rn)) .. (x or string.rep('\0', n - rn)) end
end
local moved = 0
if val then
  local ttl = math.max(redis.call('PTTL', KEYS[2]), redis.call('PTTL', KEYS[3]), redis.call('PTTL', KEYS[4]))
  if ttl < 0 then ttl = tonumber(ARGV[4]) end
  redis.call('HSET', KEYS[1], ARGV[1], val)
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
  moved = 1
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
return moved
`

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
				r.log.Warn("moving the layouts before's keys into contributions", "error", err.Error())
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

// migrate reports whether layoutKey is set, moving the old keys first if no other instance is; it sets it
// after a whole scan that found none.
func (r *Redis) migrate(c rueidis.Client) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	v, err := c.Do(ctx, c.B().Get().Key(layoutKey).Build()).ToString()
	if err == nil && v == layoutContribs {
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
				return false, fmt.Errorf("redis scan for the layouts before's keys: %w", err)
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
	if moved > 0 {
		r.log.Info("moved the layouts before's records into contributions", "subjects", moved)
		return false, nil // the next scan makes sure none came meanwhile
	}
	if err := c.Do(ctx, c.B().Set().Key(layoutKey).Value(layoutContribs).Build()).Error(); err != nil {
		return false, err
	}
	return true, nil
}

// moveOld moves the record of each subject with keys of the layouts before among keys (moveScript). It returns
// how many it moved.
func (r *Redis) moveOld(ctx context.Context, c rueidis.Client, keys []string) (int, error) {
	var cmds []rueidis.Completed
	var calls []*call
	seen := map[string]bool{}
	for _, key := range keys {
		k, sk, ok := parseSubjectKey(key)
		if !ok || seen[key[:len(key)-1]] {
			continue
		}
		seen[key[:len(key)-1]] = true
		ks := []string{subjectKey(k, sk, contribSuffix), subjectKey(k, sk, 'r'), subjectKey(k, sk, 'v'), subjectKey(k, sk, 'x')}
		args := []string{fieldOf(newInstanceID()), itoa(int64(r.bodyLen[k])), itoa(int64(ringBodyLen)), itoa(r.ttlOf(k))}
		cmds = append(cmds, r.move.cmd(c, ks, args...))
		calls = append(calls, &call{s: r.move, keys: ks, args: args})
	}
	if len(cmds) == 0 {
		return 0, nil
	}
	n := 0
	for _, res := range doMulti(ctx, c, cmds, calls) {
		v, err := res.AsInt64()
		if err != nil && !replied(err) {
			return 0, fmt.Errorf("redis move of the layouts before's keys: %w", err)
		}
		n += int(v)
	}
	return n, nil
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
