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
//	riskd:{u:<user key, 16 hex>}:v    string the user's velocity rings
//	riskd:{u:<user key>}:p            string the user's profile (AppendProfile encoding)
//	riskd:{i:<IP key>}:v              string an address's velocity rings
//	riskd:{d:<device key>}:v          string a device's velocity rings
//	riskd:{s:<subnet key>}:v          string a subnet's velocity rings (/24 of IPv4, /64 of IPv6)
//	riskd:{a:<ASN key>}:v             string an autonomous system's velocity rings
//	riskd:{u:<user key>}:x            string the user's facts: addresses, devices, countries, amounts
//	riskd:{i:<IP key>}:x              string an address's facts: its users
//	riskd:{s:<subnet key>}:x          string a subnet's facts: its users
//	riskd:{d:<device key>}:x          string a device's facts: first seen, last user agent, its users
//	riskd:{u:<user key>}:t            string tombstone of the user's erasure: its time (ms), see redis_erasures.go
//	riskd:keycheck                    string fingerprint of the hash key the instances share
//	riskd:retention-lock              string held by the instance sweeping profiles for retention
//
// A velocity value is the ring of velocityRecord as 160 bytes: the four ring heads (int32), then the count of
// metric m in slot s of window w's ring at uint16 index w*18 + m*6 + s, little-endian. It expires 28 h after its
// last event (the day window reaches back at most 24 h); a profile expires one retention period after its last
// change. A facts value is a record of facts_codec.go; it expires 28 h after its last event, a device's one
// retention period after it (its first sighting is what it keeps).
const (
	keyPrefix      = "riskd:"
	keyCheckKey    = keyPrefix + "keycheck"
	retentionLock  = keyPrefix + "retention-lock"
	profilePattern = keyPrefix + "{u:*}:p"

	velocityTTLms = (24 + 4) * 3600 * 1000
	ringBytes     = 4*int(NumWindows) + 2*int(NumWindows)*int(NumMetrics)*ringLen
)

// subjectKey returns the key of a subject's velocity rings ('v'), facts ('x') or profile ('p'); its kind's tag
// (kinds) says which kind of subject it is.
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

// velocityScript reads a subject's ring and counts an event in it, atomically, so that the instances sharing
// Redis count an attack as one. ARGV: the event's bucket index in each window (4), the key's TTL in ms, the
// metrics to count (bit set), "1" to return the ring as it was before counting (nil when there was none), and
// how many events to count (1 unless the writer merged several).
// The ring is one binary string (struct.pack), not a hash: a hash of 76 fields cost 40 µs of Redis CPU a call
// in Lua table building, the string about a tenth of that.
//
// A user's ring is called with the user's tombstone as KEYS[2] and the time the change was made (ms) as ARGV[9]:
// a change made before the user's erasure is refused (-1, or nil when a reply was asked for), see tombstoneCheck.
const velocityScript = `
local key = KEYS[1]
local stamp, reply = ARGV[9], ARGV[7]
` + tombstoneCheck + `
local cur = redis.call('GET', key)
if cur and #cur ~= 160 then cur = false end -- damaged: start the ring again rather than fail forever
local mask = tonumber(ARGV[6])
local ret = false
if ARGV[7] == '1' then ret = cur end
if mask == 0 then return ret end
local n = tonumber(ARGV[8])
local fmt = '<' .. string.rep('i4', 4) .. string.rep('H', 72)
local v
if cur then
  v = {struct.unpack(fmt, cur)}
else
  v = {}
  for j = 1, 76 do v[j] = 0 end
  for w = 0, 3 do v[w + 1] = tonumber(ARGV[w + 1]) end
end
for w = 0, 3 do
  local i = tonumber(ARGV[w + 1])
  local h = v[w + 1]
  local count = true
  if i > h then
    for j = math.max(h + 1, i - 5), i do
      local s = j % 6
      for m = 0, 2 do v[5 + w * 18 + m * 6 + s] = 0 end
    end
    v[w + 1] = i
  elseif i <= h - 6 then
    count = false
  end
  if count then
    local s = i % 6
    for m = 0, 2 do
      if math.floor(mask / 2 ^ m) % 2 == 1 then
        local x = 5 + w * 18 + m * 6 + s
        v[x] = math.min(v[x] + n, 65535)
      end
    end
  end
end
redis.call('SET', key, struct.pack(fmt, unpack(v, 1, 76)), 'PX', ARGV[5])
return ret
`

// tombstoneCheck is the Lua that refuses a change to an erased user's key: when KEYS[2] (the user's tombstone) is
// given and holds a time later than the change's (the script's local stamp, ms), the script ends with nil when a
// reply was asked for (its local reply is "1": the user is erased, there is nothing to read) and -1 otherwise,
// which the writer counts as dropped. One GET more per call, in the same script: no round trip is added.
const tombstoneCheck = `if KEYS[2] then
  local t = redis.call('GET', KEYS[2])
  if t and tonumber(stamp) < tonumber(t) then
    if reply == '1' then return false end
    return -1
  end
end`

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

// cmd calls the script on key, and on tomb (a user's tombstone) as KEYS[2] unless it is "".
func (s *script) cmd(c rueidis.Client, key, tomb string, args ...string) rueidis.Completed {
	if tomb != "" {
		return c.B().Evalsha().Sha1(s.sha).Numkeys(2).Key(key, tomb).Arg(args...).Build()
	}
	return c.B().Evalsha().Sha1(s.sha).Numkeys(1).Key(key).Arg(args...).Build()
}

func (s *script) evalCmd(c rueidis.Client, key, tomb string, args ...string) rueidis.Completed {
	if tomb != "" {
		return c.B().Eval().Script(s.src).Numkeys(2).Key(key, tomb).Arg(args...).Build()
	}
	return c.B().Eval().Script(s.src).Numkeys(1).Key(key).Arg(args...).Build()
}

// call is one script call of a pipeline, kept so that it can be re-sent with EVAL.
type call struct {
	s    *script
	key  string
	tomb string
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
			again = append(again, calls[i].s.evalCmd(c, calls[i].key, calls[i].tomb, calls[i].args...))
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
