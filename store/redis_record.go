package store

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// A subject's record in Redis is one string: its velocity ring (the body of velocityRecord, snapshot.go)
// followed by its facts record (facts_codec.go), for the kinds that keep facts. recordScript reads it, counts
// the event in the ring and adds the attempt to the facts in one call, and the decision reads the bytes it
// returns with the in-memory code. The script's offsets are not written by hand: they come from the runs
// below, which declare the bodies' fields in order (TestRecordLayoutMatchesCodec holds them to the codecs).

// fieldRun is n consecutive fields of one type in a record's bytes: the type in the notation of Redis's Lua
// struct library, and its size. The script names the first field of a named run <KIND>_<NAME>.
type fieldRun struct {
	name string
	n    int
	typ  string // i4 int32, I4 uint32, H uint16, f float32
	size int
}

var (
	ringRuns = []fieldRun{{"heads", int(NumWindows), "i4", 4}, {"counts", int(NumWindows) * int(NumMetrics) * ringLen, "H", 2}}
	// factsRuns are the facts bodies of facts_codec.go. Every one starts with its last minute, which is 0 in a
	// record that holds no facts yet (a ring counted without an attempt to add).
	factsRuns = [...][]fieldRun{
		userRecord: {{"last", 1, "i4", 4}, {"heads", 2, "i4", 4}, {"ips", userIPSlots, "I4", 4}, {"devices", userDeviceSlots, "I4", 4},
			{"countries", userCountrySlots, "I4", 4}, {"amounts", 2 * ringLen, "f", 4}},
		addrRecord:   {{"last", 1, "i4", 4}, {"users", addrUserSlots, "I4", 4}, {"regs", regCount, "H", 2}},
		deviceRecord: {{"last", 1, "i4", 4}, {"first", 1, "i4", 4}, {"ua", 1, "I4", 4}, {"users", deviceUserSlots, "I4", 4}},
	}
)

func runsLen(runs []fieldRun) int {
	n := 0
	for _, r := range runs {
		n += r.n * r.size
	}
	return n
}

// recordLen is the length of the record of a subject of kind k.
func recordLen(k kind) int {
	n := ringBytes
	if f := kinds[k].facts; f != noFacts {
		n += runsLen(factsRuns[f])
	}
	return n
}

// luaRuns names for the script the struct format of a body laid out by runs (<PREFIX>_FMT), its number of
// fields (<PREFIX>_FIELDS), and the index (1-based) of the first field of each run (<PREFIX>_<NAME>).
func luaRuns(runs []fieldRun, prefix string, names map[string]int, formats map[string]string) {
	f, j := "<", 1
	for _, r := range runs {
		names[prefix+"_"+strings.ToUpper(r.name)] = j
		f += strings.Repeat(r.typ, r.n)
		j += r.n
	}
	names[prefix+"_FIELDS"] = j - 1
	formats[prefix+"_FMT"] = "'" + f + "'"
}

// Which facts a record keeps, to recordScript (a subject's first argument).
var recordScriptKinds = [...]string{noFacts: "a", userRecord: "u", addrRecord: "i", deviceRecord: "d"}

// recordScript updates the records of one or more subjects (one on Redis Cluster, where each subject has its
// own slot; every subject of an event on a standalone Redis) and returns what each held before, nil when none.
//
// KEYS: per subject, its record key ('r'), and for a user the user's tombstone (when it holds a time later
// than the change's, the change was made before the erasure and is refused: the subject's answer is -1, or nil
// when a reply was asked for).
// ARGV[1..recordCommonArgs]: the event's bucket index in each window, its minute and minute stamp, "1" to
// reply, the events to count (1 unless the writer merged some), when the change was made (ms), the TTL of a
// record and of a device's record (ms), and the number of subjects. Then recordSubjectArgs per subject: the
// record kind (recordScriptKinds), the metrics to count (bit set), "1" to add the attempt to the facts, and
// the facts' items: u: the fingerprints of the address, the device and the country ("" when absent) and the
// amount ("" when none); i: the user's fingerprint and register; d: the user's fingerprint ("" when none)
// and the user-agent hash (0 when none).
//
// The changes are those of velocity.go and facts.go step for step. Fields are read from the record's bytes
// as the code asks for them and only the changed ones are packed back, so a call costs what it changes, not
// the record's size. A subject with no record yet but the keys of the layout before (its 'v' ring and 'x'
// facts, in the same slot) starts from them, and they are deleted once the record is written.
var recordScript = func() string {
	names, formats := map[string]int{
		"RING_BYTES": ringBytes, "USER_BYTES": runsLen(factsRuns[userRecord]), "ADDR_BYTES": runsLen(factsRuns[addrRecord]),
		"DEVICE_BYTES": runsLen(factsRuns[deviceRecord]), "NUM_WINDOWS": int(NumWindows), "NUM_METRICS": int(NumMetrics),
		"RING_LEN": ringLen, "COMMON_ARGS": recordCommonArgs, "SUBJECT_ARGS": recordSubjectArgs,
		"DAY_MIN": dayMin, "STAMP_MOD": stampMod, "STAMP_HALF": stampHalf,
	}, map[string]string{}
	luaRuns(ringRuns, "RING", names, formats)
	names["RING_COUNTS_POS"] = 1 + runsLen(ringRuns[:1])
	names["ADDR_USERS_POS"] = 1 + runsLen(factsRuns[addrRecord][:1])
	names["ADDR_REGS_POS"] = 1 + runsLen(factsRuns[addrRecord][:2])
	names["ADDR_SLOTS"] = addrUserSlots
	formats["RING_HEADS_FMT"] = "'<" + strings.Repeat(ringRuns[0].typ, ringRuns[0].n) + "'"
	formats["ADDR_USERS_FMT"] = "'<" + strings.Repeat(factsRuns[addrRecord][1].typ, factsRuns[addrRecord][1].n) + "'"
	luaRuns(factsRuns[userRecord], "USER", names, formats)
	luaRuns(factsRuns[addrRecord], "ADDR", names, formats)
	luaRuns(factsRuns[deviceRecord], "DEVICE", names, formats)
	for k, v := range names {
		formats[k] = strconv.Itoa(v)
	}
	// Longest names first, so that no name is replaced inside a longer one.
	keys := make([]string, 0, len(formats))
	for k := range formats {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return len(keys[i]) > len(keys[j]) || len(keys[i]) == len(keys[j]) && keys[i] < keys[j]
	})
	var pairs []string
	for _, k := range keys {
		pairs = append(pairs, k, formats[k])
	}
	return strings.NewReplacer(pairs...).Replace(recordLua)
}()

const (
	recordCommonArgs  = 12
	recordSubjectArgs = 7
)

const recordLua = `
local ix = {tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])}
local mn, st = tonumber(ARGV[5]), tonumber(ARGV[6])
local reply, n, stamp = ARGV[7] == '1', tonumber(ARGV[8]), tonumber(ARGV[9])
local factsBytes = {u = USER_BYTES, i = ADDR_BYTES, d = DEVICE_BYTES, a = 0}
local factsFmt = {u = USER_FMT, i = ADDR_FMT, d = DEVICE_FMT}
local factsFields = {u = USER_FIELDS, i = ADDR_FIELDS, d = DEVICE_FIELDS}

-- A body is decoded whole into one table and packed back whole: one table per body costs less than tables
-- for the parts a call changes.
local function decode(fmt, fields, src, pos)
  if not src then
    local v = {}
    for j = 1, fields do v[j] = 0 end
    return v
  end
  return {struct.unpack(fmt, src, pos)}
end

local function age(now, s)
  local d = (now - s) % STAMP_MOD
  if d > STAMP_HALF then d = d - STAMP_MOD end
  return d
end

-- count counts the event's metrics (mask) n times in the ring v.
local function count(v, mask)
  for w = 0, NUM_WINDOWS - 1 do
    local i, h = ix[w + 1], v[RING_HEADS + w]
    local add = true
    if i > h then
      for j = math.max(h + 1, i - RING_LEN + 1), i do
        local s = j % RING_LEN
        for m = 0, NUM_METRICS - 1 do v[RING_COUNTS + (w * NUM_METRICS + m) * RING_LEN + s] = 0 end
      end
      v[RING_HEADS + w] = i
    elseif i <= h - RING_LEN then
      add = false
    end
    if add then
      local s, bits = i % RING_LEN, mask
      for m = 0, NUM_METRICS - 1 do
        if bits % 2 == 1 then
          local x = RING_COUNTS + (w * NUM_METRICS + m) * RING_LEN + s
          v[x] = math.min(v[x] + n, 65535)
        end
        bits = math.floor(bits / 2)
      end
    end
  end
end

-- setAdd records fingerprint fp seen now in the stamped set v[lo..hi] (facts.go).
local function setAdd(v, lo, hi, fp)
  local victim, oldest, empty = lo, nil, false
  for j = lo, hi do
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

-- countHot is count for a ring src whose every window is at the event's bucket (a busy subject): the counts
-- are read and spliced in one by one, without decoding the ring into a table, which costs more than the rest
-- of the call. It returns nil for any other ring.
local function countHot(src, mask)
  local h1, h2, h3, h4 = struct.unpack(RING_HEADS_FMT, src)
  if h1 ~= ix[1] or h2 ~= ix[2] or h3 ~= ix[3] or h4 ~= ix[4] then return nil end
  local out, last = {}, 1
  for w = 0, NUM_WINDOWS - 1 do
    local s, bits = ix[w + 1] % RING_LEN, mask
    for m = 0, NUM_METRICS - 1 do
      if bits % 2 == 1 then
        local p = RING_COUNTS_POS + 2 * ((w * NUM_METRICS + m) * RING_LEN + s)
        local x = struct.unpack('<H', src, p)
        out[#out + 1] = string.sub(src, last, p - 1)
        out[#out + 1] = struct.pack('<H', math.min(x + n, 65535))
        last = p + 2
      end
      bits = math.floor(bits / 2)
    end
  end
  out[#out + 1] = string.sub(src, last, RING_BYTES)
  return table.concat(out)
end

-- addrHot is addFacts for an address's facts f (bytes) that need no sweep (seen this hour, not new): only its
-- set of users is decoded, and the one register the user maps to spliced in. It returns nil otherwise.
local function addrHot(f, a)
  local last = struct.unpack('<i4', f, 1)
  if last == 0 or mn - last >= DAY_MIN or math.floor(mn / 60) > math.floor(last / 60) then return nil end
  local users = {struct.unpack(ADDR_USERS_FMT, f, ADDR_USERS_POS)}
  setAdd(users, 1, ADDR_SLOTS, tonumber(ARGV[a]))
  local rp = ADDR_REGS_POS + 2 * tonumber(ARGV[a + 1])
  local g = struct.unpack('<H', f, rp)
  if g == 0 or age(st, g) > 0 then g = st end
  local ue = ADDR_USERS_POS + 4 * ADDR_SLOTS
  return struct.pack('<i4', math.max(last, mn)) .. struct.pack(ADDR_USERS_FMT, unpack(users, 1, ADDR_SLOTS)) ..
    string.sub(f, ue, rp - 1) .. struct.pack('<H', g) .. string.sub(f, rp + 2)
end

-- addFacts adds the attempt to the facts v of a record of kind kind; a is the index of its first item.
local function addFacts(v, kind, a)
  local s0, s1, r0, r1
  if kind == 'u' then
    s0, s1 = USER_IPS, USER_AMOUNTS - 1
  elseif kind == 'i' then
    s0, s1, r0, r1 = ADDR_USERS, ADDR_REGS - 1, ADDR_REGS, ADDR_FIELDS
  else
    s0, s1 = DEVICE_USERS, DEVICE_FIELDS
  end
  if v[1] == 0 then -- no facts yet: the record's init (facts.go)
    v[1] = mn
    if kind == 'u' then v[USER_HEADS], v[USER_HEADS + 1] = ix[3], ix[4] end
    if kind == 'd' then v[DEVICE_FIRST] = mn end
  end
  -- touch: a record idle for a day is cleared, one whose hour changed is swept
  local last = v[1]
  if mn - last >= DAY_MIN then
    for j = s0, s1 do v[j] = 0 end
    if r0 then for j = r0, r1 do v[j] = 0 end end
  elseif math.floor(mn / 60) > math.floor(last / 60) then
    for j = s0, s1 do
      if v[j] ~= 0 and age(st, v[j] % 65536) >= DAY_MIN then v[j] = 0 end
    end
    if r0 then
      for j = r0, r1 do
        if v[j] ~= 0 and age(st, v[j]) >= DAY_MIN then v[j] = 0 end
      end
    end
  end
  local latest = false
  if mn >= last then v[1] = mn; latest = true end
  if kind == 'u' then
    if ARGV[a] ~= '' then setAdd(v, USER_IPS, USER_DEVICES - 1, tonumber(ARGV[a])) end
    if ARGV[a + 1] ~= '' then setAdd(v, USER_DEVICES, USER_COUNTRIES - 1, tonumber(ARGV[a + 1])) end
    if ARGV[a + 2] ~= '' then setAdd(v, USER_COUNTRIES, USER_AMOUNTS - 1, tonumber(ARGV[a + 2])) end
    if ARGV[a + 3] ~= '' then
      local amt = tonumber(ARGV[a + 3])
      for j = 0, 1 do
        local i, h = ix[3 + j], v[USER_HEADS + j]
        local add = true
        if i > h then
          for k = math.max(h + 1, i - RING_LEN + 1), i do v[USER_AMOUNTS + j * RING_LEN + k % RING_LEN] = 0 end
          v[USER_HEADS + j] = i
        elseif i <= h - RING_LEN then
          add = false
        end
        if add then
          local x = USER_AMOUNTS + j * RING_LEN + i % RING_LEN
          v[x] = v[x] + amt
        end
      end
    end
  elseif kind == 'i' then
    setAdd(v, s0, s1, tonumber(ARGV[a]))
    local g = r0 + tonumber(ARGV[a + 1])
    if v[g] == 0 or age(st, v[g]) > 0 then v[g] = st end
  else
    if mn < v[DEVICE_FIRST] then v[DEVICE_FIRST] = mn end
    if ARGV[a] ~= '' then setAdd(v, s0, s1, tonumber(ARGV[a])) end
    local ua = tonumber(ARGV[a + 1])
    if ua ~= 0 and latest then v[DEVICE_UA] = ua end
  end
end

local function subject(key, tomb, kind, mask, withFacts, a)
  if tomb then
    local t = redis.call('GET', tomb)
    if t and stamp < tonumber(t) then
      if reply then return false end
      return -1
    end
  end
  local fsize = factsBytes[kind]
  local cur = redis.call('GET', key)
  if cur and #cur ~= RING_BYTES + fsize then cur = false end -- damaged: start again rather than fail forever
  local old = nil
  if not cur then
    -- the layout before: a ring key and a facts key
    old = string.sub(key, 1, -2)
    local ov = redis.call('GET', old .. 'v')
    local ox = false
    if fsize > 0 then ox = redis.call('GET', old .. 'x') end
    if type(ov) ~= 'string' or #ov ~= RING_BYTES then ov = false end
    if type(ox) ~= 'string' or #ox ~= fsize then ox = false end
    if ov or ox then
      cur = (ov or string.rep('\0', RING_BYTES)) .. (ox or string.rep('\0', fsize))
    else
      old = nil
    end
  end
  local ret = false
  if reply then ret = cur end
  withFacts = withFacts and fsize > 0
  if mask == 0 and not withFacts then return ret end
  local src = cur or nil
  local body
  local hot = src and mask ~= 0 and countHot(src, mask)
  if hot then
    body = hot
  elseif mask ~= 0 or not src then
    local ring = decode(RING_FMT, RING_FIELDS, src, 1)
    if ring[RING_HEADS] == 0 and ring[RING_HEADS + 1] == 0 then
      for w = 0, NUM_WINDOWS - 1 do ring[RING_HEADS + w] = ix[w + 1] end -- a new ring starts at the event's buckets
    end
    if mask ~= 0 then count(ring, mask) end
    body = struct.pack(RING_FMT, unpack(ring, 1, RING_FIELDS))
  else
    body = string.sub(src, 1, RING_BYTES)
  end
  if fsize > 0 then
    local fhot = withFacts and src and kind == 'i' and addrHot(string.sub(src, RING_BYTES + 1), a)
    if fhot then
      body = body .. fhot
    elseif withFacts then
      local facts = decode(factsFmt[kind], factsFields[kind], src, RING_BYTES + 1)
      addFacts(facts, kind, a)
      body = body .. struct.pack(factsFmt[kind], unpack(facts, 1, factsFields[kind]))
    elseif src then
      body = body .. string.sub(src, RING_BYTES + 1)
    else
      body = body .. string.rep('\0', fsize)
    end
  end
  local ttl = ARGV[10]
  if kind == 'd' then ttl = ARGV[11] end
  redis.call('SET', key, body, 'PX', ttl)
  if old then redis.call('DEL', old .. 'v', old .. 'x') end
  return ret
end

local res, k = {}, 1
for s = 1, tonumber(ARGV[12]) do
  local a = COMMON_ARGS + 1 + (s - 1) * SUBJECT_ARGS
  local kind = ARGV[a]
  local key, tomb = KEYS[k], nil
  k = k + 1
  if kind == 'u' then tomb = KEYS[k]; k = k + 1 end
  res[s] = subject(key, tomb, kind, tonumber(ARGV[a + 1]), ARGV[a + 2] == '1', a + 3)
end
return res
`

// recordCall is one call of recordScript: the subjects it updates, in kind order.
type recordCall struct {
	keys  []string
	args  []string
	kinds []kind
}

// recordCalls are the recordScript calls for an event of s at time at: counting ms n times, adding the
// attempt to the facts (withFacts), returning the records as they were (reply). stamp is when the change was
// made (ms, wall clock). On a cluster (perSubject) each subject gets a call of its own.
func (r *Redis) recordCalls(s *Subjects, at int64, ms MetricSet, withFacts, reply bool, n int, stamp int64, perSubject bool) []recordCall {
	mn := minuteOf(at)
	ix := bucketIndices(at)
	common := make([]string, recordCommonArgs)
	for w := range NumWindows {
		common[w] = itoa(int64(ix[w]))
	}
	common[4], common[5] = itoa(int64(mn)), itoa(int64(stampOf(mn)))
	common[6] = "0"
	if reply {
		common[6] = "1"
	}
	common[7], common[8] = itoa(int64(n)), itoa(stamp)
	common[9], common[10] = itoa(velocityTTLms), itoa(r.cfg.Retention.Milliseconds())
	fp := func(has bool, item uint64) string {
		if !has {
			return ""
		}
		return itoa(int64(Fingerprint(item)))
	}
	var calls []recordCall
	var cur *recordCall
	for k := range numKinds {
		key, has := s.subject(k)
		if !has {
			continue
		}
		if cur == nil || perSubject {
			calls = append(calls, recordCall{args: append([]string(nil), common...)})
			cur = &calls[len(calls)-1]
		}
		cur.kinds = append(cur.kinds, k)
		cur.keys = append(cur.keys, subjectKey(k, key, 'r'))
		if kinds[k].tombstoned {
			cur.keys = append(cur.keys, subjectKey(kindUser, key, 't'))
		}
		rec := kinds[k].facts
		add := withFacts && (rec != addrRecord || s.HasUser) // an address learns only of attempts with a user
		items := [4]string{}
		switch rec {
		case userRecord:
			items[0], items[1] = fp(s.HasIP, s.IP), fp(s.HasDevice, s.Device)
			if s.Country != [2]byte{} {
				items[2] = itoa(int64(countryFP(s.Country)))
			}
			if s.HasAmount {
				items[3] = strconv.FormatFloat(s.Amount, 'g', -1, 64)
			}
		case addrRecord:
			items[0], items[1] = fp(true, s.User), itoa(int64(s.User%regCount))
		case deviceRecord:
			items[0], items[1] = fp(s.HasUser, s.User), itoa(int64(s.UA))
		}
		flag := "0"
		if add {
			flag = "1"
		}
		cur.args = append(cur.args, recordScriptKinds[rec], itoa(int64(ms)), flag, items[0], items[1], items[2], items[3])
	}
	for i := range calls {
		calls[i].args[recordCommonArgs-1] = itoa(int64(len(calls[i].kinds)))
	}
	return calls
}

// cmd is c's command for call rc.
func (rc *recordCall) cmd(c rueidis.Client, s *script) (rueidis.Completed, *call) {
	return s.cmd(c, rc.keys, rc.args...), &call{s: s, keys: rc.keys, args: rc.args}
}

// subjectAnswers splits the answer of a recordScript call into its subjects' answers.
func subjectAnswers(res rueidis.RedisResult, want int) ([]rueidis.RedisMessage, error) {
	if err := res.Error(); err != nil {
		return nil, err
	}
	ms, err := res.ToArray()
	if err != nil {
		return nil, fmt.Errorf("redis record script: %w", err)
	}
	if len(ms) != want {
		return nil, fmt.Errorf("redis record script: %d answers for %d subjects: %w", len(ms), want, ErrCorrupt)
	}
	return ms, nil
}

// parseRecord reads the record a subject of kind k held (m: recordScript's answer for it; nil: none) as of
// time at: its counters into counts, its facts into out, as the in-memory records read.
func parseRecord(m *rueidis.RedisMessage, k kind, at int64, counts *[NumMetrics]Counts, out *Facts) error {
	*counts = [NumMetrics]Counts{}
	if m.IsNil() {
		return nil
	}
	b, err := m.AsBytes()
	if err != nil {
		return fmt.Errorf("redis record read: %w", err)
	}
	if len(b) != recordLen(k) {
		return fmt.Errorf("redis record read: %s record of %d bytes: %w", kinds[k].name, len(b), ErrCorrupt)
	}
	var ring velocityRecord
	ring.decodeBody(b[:ringBytes])
	ix := bucketIndices(at)
	ring.read(&ix, counts)
	facts := b[ringBytes:]
	if len(facts) == 0 || le.Uint32(facts) == 0 { // a ring without facts yet
		return nil
	}
	spec := &kinds[k]
	switch spec.facts {
	case userRecord:
		var r userFacts
		r.decodeBody(facts)
		r.read(at, out)
	case addrRecord:
		var r addrFacts
		r.decodeBody(facts)
		outs := spec.userCounts(out)
		r.read(at, spec.userWindows, outs[:len(spec.userWindows)])
	case deviceRecord:
		var r deviceFacts
		r.decodeBody(facts)
		r.read(at, out)
	}
	return nil
}
