package store

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strconv"

	"github.com/redis/rueidis"
)

// Redis key layout. Every key of one subject carries the subject in a {hash tag}, so that in Redis Cluster all of
// a user's keys live in one slot: one DEL erases them, and a script may touch them together.
//
//	riskd:{u:<user key, 16 hex>}:c    hash   the user's contributions: per instance (field: its id, 16 hex) its
//	                                         record of the user: velocity rings, then facts (addresses, devices,
//	                                         countries, amounts); see redis_contrib.go
//	riskd:{i:<IP key>}:c              hash   an address's contributions: rings, then facts (its users)
//	riskd:{s:<subnet key>}:c          hash   a subnet's (/24 of IPv4, /64 of IPv6): rings, then facts (its users)
//	riskd:{d:<device key>}:c          hash   a device's: rings, then facts (first seen, user agent, users)
//	riskd:{a:<ASN key>}:c             hash   an autonomous system's: rings
//	riskd:{u:<user key>}:p            string the user's profile (AppendProfile encoding)
//	riskd:{u:<user key>}:t            string tombstone of the user's erasure: its time (ms), see redis_erasures.go
//	riskd:keycheck                    string fingerprint of the hash key the instances share
//	riskd:retention-lock              string held by the instance sweeping profiles for retention
//
// A record is the body of velocityRecord (snapshot.go: the ring heads, then the counts), followed for the kinds
// that keep facts by the body of their facts record (facts_codec.go), little-endian: the bytes of a snapshot's
// record. A hash expires 28 h after its last write (the day window reaches back at most 24 h), a device's one
// retention period after it (its first sighting is what it keeps); a profile expires one retention period
// after its last change. Releases before kept one record per subject under ':r', and before that its rings
// under ':v' and its facts under ':x'; they are read as contributions until the background move of
// redis_migrate.go has put them into the hashes and set riskd:layout; an erasure deletes them too.
//
//	riskd:layout                      string "contributions" once no subject is kept in the layouts before's keys
//	riskd:migrate-lock                string held by the instance moving them
const (
	keyPrefix      = "riskd:"
	keyCheckKey    = keyPrefix + "keycheck"
	retentionLock  = keyPrefix + "retention-lock"
	profilePattern = keyPrefix + "{u:*}:p"

	velocityTTLms = (24 + 4) * 3600 * 1000
)

// subjectKey returns the key of a subject's contributions ('c'), profile ('p') or tombstone ('t'), or of the
// layouts before's records ('r', 'v', 'x'); its kind's tag (kinds) says which kind of subject it is.
func subjectKey(kd kind, k uint64, suffix byte) string {
	var b [32]byte
	s := append(b[:0], keyPrefix...)
	s = append(s, '{', kinds[kd].tag, ':')
	const hexDigits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		s = append(s, hexDigits[k>>uint(shift)&0xf])
	}
	s = append(s, '}', ':', suffix)
	return string(s)
}

// UserKeyHex is how a user's state key appears in Redis keys (and what an erasure check looks for).
func UserKeyHex(k uint64) string {
	s := subjectKey(kindUser, k, 'v')
	return s[len(keyPrefix)+3 : len(keyPrefix)+3+16]
}

// casScript replaces a profile only if it still holds what the writer read (compare and set): two instances
// learning about one user at once never lose each other's changes; the loser reads again and reapplies its op.
// ARGV: the value read ("" = none), the new value ("" = delete), the TTL in ms, and with the user's tombstone as
// KEYS[2], the tombstone read ("" = none): the writer dropped the ops made before it, and an erasure since (a
// new tombstone) makes it read again. Returns 1 if replaced.
const casScript = `
if KEYS[2] then
  local t = redis.call('GET', KEYS[2])
  if t == false then t = '' end
  if t ~= ARGV[4] then return 0 end
end
local cur = redis.call('GET', KEYS[1])
if cur == false then cur = '' end
if cur ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
`

// script is a Lua script run by EVALSHA, falling back to EVAL when Redis does not have it (after a restart).
type script struct {
	src string
	sha string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src)) // the name Redis knows a script by, not a security measure
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

// cmd calls the script on keys.
func (s *script) cmd(c rueidis.Client, keys []string, args ...string) rueidis.Completed {
	return c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

func (s *script) evalCmd(c rueidis.Client, keys []string, args ...string) rueidis.Completed {
	return c.B().Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

// call is one script call of a pipeline, kept so that it can be re-sent with EVAL.
type call struct {
	s    *script
	keys []string
	args []string
}

// doMulti sends cmds in one pipeline (one round trip per node) and re-sends, with EVAL, the script calls Redis
// answered with NOSCRIPT: a script never ran in that case, so sending it again counts nothing twice. calls[i]
// describes cmds[i] when it is a script call (nil otherwise).
func doMulti(ctx context.Context, c rueidis.Client, cmds []rueidis.Completed, calls []*call) []rueidis.RedisResult {
	res := c.DoMulti(ctx, cmds...)
	var again []rueidis.Completed
	var at []int
	for i, r := range res {
		if e, ok := rueidis.IsRedisErr(r.Error()); ok && e.IsNoScript() && calls[i] != nil {
			again = append(again, calls[i].s.evalCmd(c, calls[i].keys, calls[i].args...))
			at = append(at, i)
		}
	}
	if len(again) > 0 {
		for j, r := range c.DoMulti(ctx, again...) {
			res[at[j]] = r
		}
	}
	return res
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
