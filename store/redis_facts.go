package store

import (
	"fmt"
	"strconv"

	"github.com/redis/rueidis"
)

// factsScript reads a subject's facts record and adds an attempt to it, atomically, as velocityScript does for
// counters; the record is the byte layout of facts_codec.go, and the changes are those of facts.go, step for
// step, so that a record read back decodes and reads as the in-memory one. KEYS[1] is the subject's 'x' key.
// ARGV: the record kind ('u' user, 'i' address or subnet, 'd' device), the event's minute and its stamp, the
// key's TTL in ms, "1" to return the record as it was (nil when none), "1" to add the attempt, then per kind:
// u: the fingerprints of the address, the device and the country ("" when absent), the amount ("" when
// none) and the event's Hour and Day bucket indices; i: the user's fingerprint and register; d: the user's
// fingerprint ("" when none) and the user-agent hash (0 when none). A user's record is called with the user's
// tombstone as KEYS[2] and the time the change was made (ms) as ARGV[13]: see tombstoneCheck.
const factsScript = `
local kind = ARGV[1]
local stamp, reply = ARGV[13], ARGV[5]
` + tombstoneCheck + `
local fmt, size, n, s0, s1, r0, r1
if kind == 'u' then
  fmt, size, n, s0, s1 = '<i4i4i4' .. string.rep('I4', 32) .. string.rep('f', 12), 188, 47, 4, 35
elseif kind == 'i' then
  fmt, size, n, s0, s1, r0, r1 = '<i4' .. string.rep('I4', 8) .. string.rep('H', 64), 164, 73, 2, 9, 10, 73
else
  fmt, size, n, s0, s1 = '<i4i4I4' .. string.rep('I4', 8), 44, 11, 4, 11
end
local cur = redis.call('GET', KEYS[1])
if cur and #cur ~= size then cur = false end -- damaged: start again rather than fail forever
local ret = false
if ARGV[5] == '1' then ret = cur end
if ARGV[6] ~= '1' then return ret end
local mn, st = tonumber(ARGV[2]), tonumber(ARGV[3])
local v
if cur then
  v = {struct.unpack(fmt, cur)}
else
  v = {}
  for j = 1, n do v[j] = 0 end
  v[1] = mn
  if kind == 'u' then v[2], v[3] = tonumber(ARGV[11]), tonumber(ARGV[12]) end
  if kind == 'd' then v[2] = mn end
end
local function age(now, s)
  local d = (now - s) % 65535
  if d > 32767 then d = d - 65535 end
  return d
end
-- touch: a record idle for a day is cleared, one whose hour changed is swept
local last = v[1]
if mn - last >= 1440 then
  for j = s0, s1 do v[j] = 0 end
  if r0 then for j = r0, r1 do v[j] = 0 end end
elseif math.floor(mn / 60) > math.floor(last / 60) then
  for j = s0, s1 do
    if v[j] ~= 0 and age(st, v[j] % 65536) >= 1440 then v[j] = 0 end
  end
  if r0 then
    for j = r0, r1 do
      if v[j] ~= 0 and age(st, v[j]) >= 1440 then v[j] = 0 end
    end
  end
end
local latest = false
if mn >= last then v[1] = mn; latest = true end
local function setAdd(a, b, fp)
  local victim, oldest, empty = a, nil, false
  for j = a, b do
    local x = v[j]
    if x == 0 then
      if not empty then victim, empty = j, true end
    else
      local s = x % 65536
      if math.floor(x / 65536) == fp then
        if age(st, s) > 0 then v[j] = fp * 65536 + st end
        return
      end
      if not empty then
        local g = age(st, s)
        if oldest == nil or g > oldest then victim, oldest = j, g end
      end
    end
  end
  v[victim] = fp * 65536 + st
end
if kind == 'u' then
  if ARGV[7] ~= '' then setAdd(4, 19, tonumber(ARGV[7])) end
  if ARGV[8] ~= '' then setAdd(20, 27, tonumber(ARGV[8])) end
  if ARGV[9] ~= '' then setAdd(28, 35, tonumber(ARGV[9])) end
  if ARGV[10] ~= '' then
    local amt = tonumber(ARGV[10])
    for j = 0, 1 do
      local i, h = tonumber(ARGV[11 + j]), v[2 + j]
      local add = true
      if i > h then
        for k = math.max(h + 1, i - 5), i do v[36 + j * 6 + k % 6] = 0 end
        v[2 + j] = i
      elseif i <= h - 6 then
        add = false
      end
      if add then
        local x = 36 + j * 6 + i % 6
        v[x] = v[x] + amt
      end
    end
  end
elseif kind == 'i' then
  setAdd(2, 9, tonumber(ARGV[7]))
  local g = 10 + tonumber(ARGV[8])
  if v[g] == 0 or age(st, v[g]) > 0 then v[g] = st end
else
  if mn < v[2] then v[2] = mn end
  if ARGV[7] ~= '' then setAdd(4, 11, tonumber(ARGV[7])) end
  local ua = tonumber(ARGV[8])
  if ua ~= 0 and latest then v[3] = ua end
end
redis.call('SET', KEYS[1], struct.pack(fmt, unpack(v, 1, n)), 'PX', ARGV[4])
return ret
`

// factsCall is one facts script call of a decision or of the writer.
type factsCall struct {
	kind kind // the subject's: kinds[kind].facts is its record
	key  string
	tomb string // the user's tombstone, for a user's record
	args []string
}

// factsScriptKinds name a kind of record to factsScript (its ARGV[1]).
var factsScriptKinds = [...]string{userRecord: "u", addrRecord: "i", deviceRecord: "d"}

// factsCalls are the facts script calls of an attempt by s at time at: with add, the attempt is added; with
// reply, the records are returned as they were. An address or subnet learns only of attempts with a user.
// ttl is a device record's TTL (how long a device's first sighting is remembered). stamp is when the change was
// made (ms, wall clock), which the user's tombstone is compared with.
func factsCalls(s *Subjects, at int64, add, reply bool, deviceTTLms, stamp int64, dst []factsCall) []factsCall {
	mn := minuteOf(at)
	common := func(rec factsKind, ttl int64, write bool) []string {
		r, w := "0", "0"
		if reply {
			r = "1"
		}
		if write {
			w = "1"
		}
		return []string{factsScriptKinds[rec], itoa(int64(mn)), itoa(int64(stampOf(mn))), itoa(ttl), r, w}
	}
	fp := func(has bool, item uint64) string {
		if !has {
			return ""
		}
		return itoa(int64(Fingerprint(item)))
	}
	for k := range numKinds {
		key, has := s.subject(k)
		rec := kinds[k].facts
		if !has || rec == noFacts {
			continue
		}
		var args []string
		switch rec {
		case userRecord:
			ix := bucketIndices(at)
			args = common(rec, velocityTTLms, add)
			country := ""
			if s.Country != [2]byte{} {
				country = itoa(int64(countryFP(s.Country)))
			}
			amount := ""
			if s.HasAmount {
				amount = strconv.FormatFloat(s.Amount, 'g', -1, 64)
			}
			args = append(args, fp(s.HasIP, s.IP), fp(s.HasDevice, s.Device), country, amount,
				itoa(int64(ix[Hour])), itoa(int64(ix[Day])), itoa(stamp))
		case addrRecord:
			args = append(common(rec, velocityTTLms, add && s.HasUser), fp(true, s.User), itoa(int64(s.User%regCount)))
		case deviceRecord:
			args = append(common(rec, deviceTTLms, add), fp(s.HasUser, s.User), itoa(int64(s.UA)))
		}
		tomb := ""
		if kinds[k].tombstoned {
			tomb = subjectKey(kindUser, key, 't')
		}
		dst = append(dst, factsCall{k, subjectKey(k, key, 'x'), tomb, args})
	}
	return dst
}

// parseFacts reads the record a facts script returned for a subject of kind k (nil: none) into out, as the
// in-memory record reads.
func parseFacts(res rueidis.RedisResult, k kind, at int64, out *Facts) error {
	b, err := res.AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("redis facts read: %w", err)
	}
	spec := &kinds[k]
	want := deviceFactsLen
	switch spec.facts {
	case userRecord:
		want = userFactsLen
	case addrRecord:
		want = addrFactsLen
	}
	if len(b) != want {
		return fmt.Errorf("redis facts read: %s record of %d bytes: %w", spec.name, len(b), ErrCorrupt)
	}
	switch spec.facts {
	case userRecord:
		var r userFacts
		r.decodeBody(b)
		r.read(at, out)
	case addrRecord:
		var r addrFacts
		r.decodeBody(b)
		outs := spec.userCounts(out)
		r.read(at, spec.userWindows, outs[:len(spec.userWindows)])
	case deviceRecord:
		var r deviceFacts
		r.decodeBody(b)
		r.read(at, out)
	}
	return nil
}
