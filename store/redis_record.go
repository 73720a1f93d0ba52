package store

import (
	"fmt"
	"math"
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
// fields (<PREFIX>_FIELDS), and for each run <PREFIX>_<NAME>: the index (1-based) of its first field in the
// decoded body, _OFF: its byte offset in the body, _N: its number of fields, _RFMT: its own struct format.
func luaRuns(runs []fieldRun, prefix string, names map[string]int, formats map[string]string) {
	f, j, off := "<", 1, 0
	for _, r := range runs {
		name := prefix + "_" + strings.ToUpper(r.name)
		names[name] = j
		names[name+"_OFF"] = off
		names[name+"_N"] = r.n
		formats[name+"_RFMT"] = "'<" + strings.Repeat(r.typ, r.n) + "'"
		f += strings.Repeat(r.typ, r.n)
		j += r.n
		off += r.n * r.size
	}
	names[prefix+"_FIELDS"] = j - 1
	formats[prefix+"_FMT"] = "'" + f + "'"
}

// A call's arguments are one binary string (ARGV[1]), laid out by the runs below and read by the script with
// one struct.unpack per part: converting dozens of string arguments into Lua values cost more than the rest of
// a busy subject's update. The common part comes first, then one part per subject, in the order of KEYS.
var (
	// commonArgRuns: the event's bucket index in each window, its minute and minute stamp, 1 to reply with the
	// records as they were, 1 to look for a missing record in the keys of the layout before, the events to
	// count (1 unless the writer merged some), when the change was made (ms, wall clock), the TTL of a record
	// and of a device's record (ms), and the number of subjects.
	commonArgRuns = []fieldRun{{"ix", int(NumWindows), "i4", 4}, {"minute", 1, "i4", 4}, {"stamp", 1, "i4", 4},
		{"reply", 1, "B", 1}, {"probe", 1, "B", 1}, {"n", 1, "i4", 4}, {"changed", 1, "d", 8}, {"ttl", 1, "d", 8},
		{"devicettl", 1, "d", 8}, {"subjects", 1, "B", 1}}
	// subjectArgRuns: the record's facts kind (factsKind), the metrics to count (bit set), 1 to add the attempt
	// to the facts, which items are present (bit i: item i), and the items: for a user the fingerprints of the
	// address, the device and the country, and the amount; for an address or subnet the user's fingerprint and
	// register; for a device the user's fingerprint and the user-agent hash (0 when none).
	subjectArgRuns = []fieldRun{{"kind", 1, "B", 1}, {"mask", 1, "B", 1}, {"facts", 1, "B", 1}, {"present", 1, "B", 1},
		{"items", 4, "d", 8}}
)

// appendCommonArgs appends the common part of a recordScript call's arguments (commonArgRuns).
func appendCommonArgs(b []byte, ix *[NumWindows]int32, mn int32, st uint16, reply, probe bool, n int, stamp, ttl, deviceTTL int64, subjects int) []byte {
	for _, i := range ix {
		b = le.AppendUint32(b, uint32(i))
	}
	b = le.AppendUint32(b, uint32(mn))
	b = le.AppendUint32(b, uint32(st))
	b = append(b, b2byte(reply), b2byte(probe))
	b = le.AppendUint32(b, uint32(n))
	b = le.AppendUint64(b, math.Float64bits(float64(stamp)))
	b = le.AppendUint64(b, math.Float64bits(float64(ttl)))
	b = le.AppendUint64(b, math.Float64bits(float64(deviceTTL)))
	return append(b, byte(subjects))
}

// appendSubjectArgs appends one subject's part of a recordScript call's arguments (subjectArgRuns).
func appendSubjectArgs(b []byte, rec factsKind, ms MetricSet, facts bool, present byte, items *[4]float64) []byte {
	b = append(b, byte(rec), byte(ms), b2byte(facts), present)
	for _, x := range items {
		b = le.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func b2byte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// recordScript updates the records of one or more subjects (one on Redis Cluster, where each subject has its
// own slot; every subject of an event on a standalone Redis) and returns what each held before, nil when none.
//
// KEYS: per subject, its record key ('r'), and for a user the user's tombstone (when it holds a time later
// than the change's, the change was made before the erasure and is refused: the subject's answer is -1, or nil
// when a reply was asked for). ARGV[1]: the arguments, commonArgRuns then subjectArgRuns per subject.
//
// The changes are those of velocity.go and facts.go step for step, made on the record's bytes: a field is read
// where the code asks for it and only the fields that change are put, as strings. An existing record is
// written with one SETRANGE from its first change to its last, or not at all when nothing changed (a saturated
// counter, an item already stamped this minute); a new one with one SET. The buckets a window that advances
// leaves are cleared a run of slots at a time; facts that need a sweep (their hour changed), their first event
// or an amount are decoded and packed back whole. The record's TTL is set again (PEXPIRE) only when its rings
// advance (at most every 10 s of event time) or the record is new.
//
// What Redis pays for is Lua's, not the commands': every C function the script calls (struct.pack, string.sub,
// a redis.call) costs hundreds to thousands of instructions, every string or table it makes about ten
// instructions a byte in Lua's collector, and every closure a search per local it captures. So the script
// makes three closures a call, writes its per-subject steps out in one loop, reuses its tables, and never
// rebuilds a whole record (bench/rediscost/instructions.sh counts it).
// A subject with no record yet may start from the keys of the layout before (its 'v' ring and 'x' facts, in the
// same slot), which are deleted once the record is written.
var recordScript = func() string {
	names, formats := map[string]int{
		"RING_BYTES": ringBytes, "USER_BYTES": runsLen(factsRuns[userRecord]), "ADDR_BYTES": runsLen(factsRuns[addrRecord]),
		"DEVICE_BYTES": runsLen(factsRuns[deviceRecord]), "NUM_WINDOWS": int(NumWindows), "NUM_METRICS": int(NumMetrics),
		"RING_LEN": ringLen, "DAY_MIN": dayMin, "STAMP_MOD": stampMod, "STAMP_HALF": stampHalf,
		"KIND_USER": int(userRecord), "KIND_ADDR": int(addrRecord), "KIND_DEVICE": int(deviceRecord), "KIND_NONE": int(noFacts),
	}, map[string]string{}
	luaRuns(ringRuns, "RING", names, formats)
	luaRuns(factsRuns[userRecord], "USER", names, formats)
	luaRuns(factsRuns[addrRecord], "ADDR", names, formats)
	luaRuns(factsRuns[deviceRecord], "DEVICE", names, formats)
	luaRuns(commonArgRuns, "ARGC", names, formats)
	luaRuns(subjectArgRuns, "ARGS", names, formats)
	// A window's counts: NumMetrics runs of ringLen buckets, contiguous (velocityRecord.n[w]).
	counts := ringRuns[1]
	names["WIN_BYTES"] = counts.n / int(NumWindows) * counts.size
	for k, v := range names {
		formats[k] = strconv.Itoa(v)
	}
	// H_LIST: the table h's slots of the ring's heads, "h[1], h[2], ...", to unpack the heads into.
	hs := make([]string, NumWindows)
	for w := range hs {
		hs[w] = "h[" + strconv.Itoa(w+1) + "]"
	}
	formats["H_LIST"] = strings.Join(hs, ", ")
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

const recordLua = `
local A = ARGV[1]
local i1, i2, i3, i4, mn, st, reply, probe, n, stamp, ttl, dttl, subjects, apos = struct.unpack(ARGC_FMT, A)
local ix = {i1, i2, i3, i4}
local pack, unpack1, sub, find, rep = struct.pack, struct.unpack, string.sub, string.find, string.rep
-- cn is a bucket's count after the event in a bucket the ring just cleared; stb and mnb the event's minute
-- stamp and minute as a slot and a field hold them; ixb its heads, packed once a subject needs them; ttls and
-- dttls the TTLs as redis.call would format them, formatted once. A C call costs as much as a dozen lines of
-- Lua, formatting a number as much as a command.
local cn = pack('<H', math.min(n, 65535))
local stb, mnb, ixb, ttls, dttls = pack('<H', st), pack('<i4', mn), nil, nil, nil

-- The functions are few and capture few locals: making a closure costs a search per captured local, and the
-- script makes its closures on every call. What runs once per subject is written out in the loop below;
-- what is rare (decoding a whole facts body) is made only when a call needs it.

-- The record being changed (src) and its changes: put(p, s) replaces the bytes at p (1-based) by s; calls
-- come in increasing p, and no field is read after it is put. puts is one table for every subject of the
-- call, np its length: growing a new table per subject cost more than the changes it held.
local src, puts, np = nil, {}, 0
-- prev and h: a ring's heads before and after the event; ob: the pieces of a range written. Tables made once
-- per call: the garbage a call leaves costs Redis's Lua collector about ten instructions a byte.
local h, prev, ob = {}, {}, {}
local function put(p, s)
  puts[np + 1] = p
  puts[np + 2] = s
  np = np + 2
end

-- setPut records fingerprint fp seen now in the stamped set of cnt slots (struct format fmt) at byte p of the
-- record, as facts.go's setAdd, putting the one slot it changes.
local function setPut(p, fmt, cnt, fp)
  -- The item is most often in the set already (the user's usual address, device and country): string.find
  -- looks for its fingerprint (a slot's upper half) in C, and only a new item walks the slots in Lua.
  local e, fpb, init = p + 4 * cnt, pack('<H', fp), p
  while true do
    local q = find(src, fpb, init, true)
    if not q or q >= e then break end
    if (q - p) % 4 == 2 then
      local s = unpack1('<H', src, q - 2)
      if s ~= 0 or fp ~= 0 then -- not an empty slot
        local d = (st - s) % STAMP_MOD -- age(st, s) > 0
        if d > 0 and d <= STAMP_HALF then put(q - 2, stb .. fpb) end
        return
      end
    end
    init = q + 1
  end
  -- A new item: it takes the first empty slot (four zero bytes at a slot's start, found in C too), else the
  -- oldest.
  init = p
  while true do
    local q = find(src, '\0\0\0\0', init, true)
    if not q or q >= e then break end
    if (q - p) % 4 == 0 then
      put(q, stb .. fpb)
      return
    end
    init = q + 1
  end
  local v = {unpack1(fmt, src, p)}
  local victim, oldest = 1, nil
  for j = 1, cnt do
    local g = (st - v[j] % 65536) % STAMP_MOD -- age(st, the slot's stamp)
    if g > STAMP_HALF then g = g - STAMP_MOD end
    if oldest == nil or g > oldest then victim, oldest = j, g end
  end
  put(p + 4 * (victim - 1), stb .. fpb)
end

-- addFacts adds the attempt to the decoded facts v of a record of kind kind (facts.go, step for step): the
-- path of a record's first event, of a sweep and of an amount. Made on first use.
local addFacts
local function makeAddFacts()
  local function age(now, s)
    local d = (now - s) % STAMP_MOD
    if d > STAMP_HALF then d = d - STAMP_MOD end
    return d
  end
  -- setAdd is setPut on a decoded body v, slots lo..hi.
  local function setAdd(v, lo, hi, fp)
    local victim, oldest, empty = lo, nil, false
    for j = lo, hi do
      local x = v[j]
      if x == 0 then
        if not empty then victim, empty = j, true end
      else
        local s = x % 65536
        if x - s == fp * 65536 then
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
  return function(v, kind, present, x1, x2, x3, x4)
    local s0, s1, r0, r1
    if kind == KIND_USER then
      s0, s1 = USER_IPS, USER_AMOUNTS - 1
    elseif kind == KIND_ADDR then
      s0, s1, r0, r1 = ADDR_USERS, ADDR_REGS - 1, ADDR_REGS, ADDR_FIELDS
    else
      s0, s1 = DEVICE_USERS, DEVICE_FIELDS
    end
    if v[1] == 0 then -- no facts yet: the record's init (facts.go)
      v[1] = mn
      if kind == KIND_USER then v[USER_HEADS], v[USER_HEADS + 1] = ix[3], ix[4] end
      if kind == KIND_DEVICE then v[DEVICE_FIRST] = mn end
    end
    -- touch: a record idle for a day is cleared, one whose hour changed is swept
    local last = v[1]
    if mn - last >= DAY_MIN then
      for j = s0, s1 do v[j] = 0 end
      if r0 then for j = r0, r1 do v[j] = 0 end end
    elseif mn - mn % 60 > last - last % 60 then
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
    if kind == KIND_USER then
      if present % 2 == 1 then setAdd(v, USER_IPS, USER_DEVICES - 1, x1) end
      if present % 4 >= 2 then setAdd(v, USER_DEVICES, USER_COUNTRIES - 1, x2) end
      if present % 8 >= 4 then setAdd(v, USER_COUNTRIES, USER_AMOUNTS - 1, x3) end
      if present >= 8 then
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
            v[x] = v[x] + x4
          end
        end
      end
    elseif kind == KIND_ADDR then
      setAdd(v, s0, s1, x1)
      local g = r0 + x2
      if v[g] == 0 or age(st, v[g]) > 0 then v[g] = st end
    else
      if mn < v[DEVICE_FIRST] then v[DEVICE_FIRST] = mn end
      if present % 2 == 1 then setAdd(v, s0, s1, x1) end
      if x2 ~= 0 and latest then v[DEVICE_UA] = x2 end
    end
  end
end

local res, k = {}, 1
for s = 1, subjects do
  local kind, mask, withFacts, present, x1, x2, x3, x4, nxt = unpack1(ARGS_FMT, A, apos)
  apos = nxt
  local key, tomb = KEYS[k], nil
  k = k + 1
  if kind == KIND_USER then tomb = KEYS[k]; k = k + 1 end
  local ret = false -- the subject's answer: its record as it was when a reply was asked for
  repeat
    if tomb then
      local t = redis.call('GET', tomb)
      if t and stamp < tonumber(t) then
        if reply ~= 1 then ret = -1 end
        break
      end
    end
    local fsize = 0
    if kind == KIND_USER then fsize = USER_BYTES elseif kind == KIND_ADDR then fsize = ADDR_BYTES elseif kind == KIND_DEVICE then fsize = DEVICE_BYTES end
    local cur = redis.call('GET', key)
    if cur and #cur ~= RING_BYTES + fsize then cur = false end -- damaged: start again rather than fail forever
    local old = nil
    if not cur and probe == 1 then
      -- the layout before: a ring key and a facts key
      old = sub(key, 1, -2)
      local ov = redis.call('GET', old .. 'v')
      local ox = false
      if fsize > 0 then ox = redis.call('GET', old .. 'x') end
      if type(ov) ~= 'string' or #ov ~= RING_BYTES then ov = false end
      if type(ox) ~= 'string' or #ox ~= fsize then ox = false end
      if ov or ox then
        cur = (ov or rep('\0', RING_BYTES)) .. (ox or rep('\0', fsize))
      else
        old = nil
      end
    end
    if reply == 1 then ret = cur end
    local addTo = withFacts == 1 and fsize > 0
    if mask == 0 and not addTo and not old then break end
    src, np = cur or rep('\0', RING_BYTES + fsize), 0
    local moved = not cur

    -- Counting: the event's metrics (mask) n times in the ring, putting what changes: the heads, the buckets a
    -- window that advances leaves, or the counters of a window at its head.
    if mask ~= 0 or not cur then
      H_LIST = unpack1(RING_HEADS_RFMT, src, 1 + RING_HEADS_OFF)
      local init = not cur or h[1] == 0 and h[2] == 0 -- a ring never counted starts at the event's buckets
      for w = 1, NUM_WINDOWS do
        if init then h[w] = ix[w] end
        prev[w] = h[w]
        if ix[w] > h[w] then h[w], moved = ix[w], true end
      end
      if init then moved = true end
      if moved then
        local same = true
        for w = 1, NUM_WINDOWS do
          if h[w] ~= ix[w] then same = false end
        end
        if not same then
          put(1 + RING_HEADS_OFF, pack(RING_HEADS_RFMT, unpack(h, 1, NUM_WINDOWS)))
        else
          if not ixb then ixb = pack(RING_HEADS_RFMT, unpack(ix, 1, NUM_WINDOWS)) end
          put(1 + RING_HEADS_OFF, ixb)
        end
      end
      for w = 1, NUM_WINDOWS do
        local i, o = ix[w], prev[w]
        local base = 1 + RING_COUNTS_OFF + (w - 1) * WIN_BYTES
        if i > o then
          -- The buckets o+1..i are cleared (all of them once the ring moved past them all) and the event is
          -- counted in i's, the last of them: per metric the cleared slots are one run, or two when they wrap
          -- around the ring, each put as one string. No decoding of the window.
          local si, bits = i % RING_LEN, mask
          local a = (o + 1) % RING_LEN
          if i - o >= RING_LEN then a = (si + 1) % RING_LEN end
          for m = 0, NUM_METRICS - 1 do
            local last = '\0\0'
            if bits % 2 == 1 then last = cn end
            bits = (bits - bits % 2) / 2
            local p = base + 2 * m * RING_LEN
            if a <= si then
              put(p + 2 * a, rep('\0', 2 * (si - a)) .. last)
            else
              put(p, rep('\0', 2 * si) .. last)
              put(p + 2 * a, rep('\0', 2 * (RING_LEN - a)))
            end
          end
        elseif i > o - RING_LEN then
          local si, bits = i % RING_LEN, mask
          for m = 0, NUM_METRICS - 1 do
            if bits % 2 == 1 then
              local p = base + 2 * (m * RING_LEN + si)
              local x = unpack1('<H', src, p)
              if x < 65535 then
                x = x + n
                if x > 65535 then x = 65535 end
                put(p, pack('<H', x))
              end
            end
            bits = (bits - bits % 2) / 2
          end
        end
      end
    end

    -- Facts: the attempt added to the facts at byte f of the record, putting what changes.
    if addTo then
      local f = RING_BYTES + 1
      local last = unpack1('<i4', src, f)
      if last == 0 or mn - last >= DAY_MIN or mn - mn % 60 > last - last % 60 or
        (kind == KIND_USER and present >= 8) then
        local fmt, fields = USER_FMT, USER_FIELDS
        if kind == KIND_ADDR then fmt, fields = ADDR_FMT, ADDR_FIELDS elseif kind == KIND_DEVICE then fmt, fields = DEVICE_FMT, DEVICE_FIELDS end
        local v = {unpack1(fmt, src, f)}
        if not addFacts then addFacts = makeAddFacts() end
        addFacts(v, kind, present, x1, x2, x3, x4)
        put(f, pack(fmt, unpack(v, 1, fields)))
      else
        local latest = mn >= last
        if mn > last then put(f, mnb) end
        if kind == KIND_USER then
          if present % 2 == 1 then setPut(f + USER_IPS_OFF, USER_IPS_RFMT, USER_IPS_N, x1) end
          if present % 4 >= 2 then setPut(f + USER_DEVICES_OFF, USER_DEVICES_RFMT, USER_DEVICES_N, x2) end
          if present % 8 >= 4 then setPut(f + USER_COUNTRIES_OFF, USER_COUNTRIES_RFMT, USER_COUNTRIES_N, x3) end
        elseif kind == KIND_ADDR then
          setPut(f + ADDR_USERS_OFF, ADDR_USERS_RFMT, ADDR_USERS_N, x1)
          local p = f + ADDR_REGS_OFF + 2 * x2
          local g = unpack1('<H', src, p)
          local d = (st - g) % STAMP_MOD -- age(st, g) > 0
          if g == 0 or d > 0 and d <= STAMP_HALF then put(p, stb) end
        else
          if mn < unpack1('<i4', src, f + DEVICE_FIRST_OFF) then put(f + DEVICE_FIRST_OFF, mnb) end
          if x2 ~= 0 and latest and x2 ~= unpack1('<I4', src, f + DEVICE_UA_OFF) then put(f + DEVICE_UA_OFF, pack('<I4', x2)) end
          if present % 2 == 1 then setPut(f + DEVICE_USERS_OFF, DEVICE_USERS_RFMT, DEVICE_USERS_N, x1) end
        end
      end
    end

    if np == 0 and not old then break end
    -- One command writes the record: a redis.call costs more than rebuilding the whole record. The changes
    -- when they are one run close together (SETRANGE), else the whole record (SET, with the TTL set again
    -- when a ring's head moved, or for a record made or changed without counting).
    if cur and not old then
      -- one range from the first change to the last, and the TTL again when a ring's head moved
      if np == 2 then
        redis.call('SETRANGE', key, puts[1] - 1, puts[2])
      else
        local c, no = puts[1], 0
        for j = 1, np, 2 do
          ob[no + 1] = sub(src, c, puts[j] - 1)
          ob[no + 2] = puts[j + 1]
          no = no + 2
          c = puts[j] + #puts[j + 1]
        end
        redis.call('SETRANGE', key, puts[1] - 1, table.concat(ob, '', 1, no))
      end
      if moved or mask == 0 then
        if kind == KIND_DEVICE then
          if not dttls then dttls = tostring(dttl) end
          redis.call('PEXPIRE', key, dttls)
        else
          if not ttls then ttls = tostring(ttl) end
          redis.call('PEXPIRE', key, ttls)
        end
      end
    else
      local o, c = {}, 1
      for j = 1, np, 2 do
        o[#o + 1] = sub(src, c, puts[j] - 1)
        o[#o + 1] = puts[j + 1]
        c = puts[j] + #puts[j + 1]
      end
      o[#o + 1] = sub(src, c)
      if kind == KIND_DEVICE then
        if not dttls then dttls = tostring(dttl) end
        redis.call('SET', key, table.concat(o), 'PX', dttls)
      else
        if not ttls then ttls = tostring(ttl) end
        redis.call('SET', key, table.concat(o), 'PX', ttls)
      end
    end
    if old then redis.call('DEL', old .. 'v', old .. 'x') end
  until true
  res[s] = ret
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
	common := r.commonArgs(at, reply, n, stamp)
	fp := func(item uint64) float64 { return float64(Fingerprint(item)) }
	var calls []recordCall
	var cur *recordCall
	var args [][]byte
	for k := range numKinds {
		key, has := s.subject(k)
		if !has {
			continue
		}
		if cur == nil || perSubject {
			calls = append(calls, recordCall{})
			cur = &calls[len(calls)-1]
			args = append(args, append([]byte(nil), common...))
		}
		cur.addSubject(k, key)
		rec := kinds[k].facts
		add := withFacts && (rec != addrRecord || s.HasUser) // an address learns only of attempts with a user
		var items [4]float64
		var present byte
		switch rec {
		case userRecord:
			if s.HasIP {
				items[0], present = fp(s.IP), present|1
			}
			if s.HasDevice {
				items[1], present = fp(s.Device), present|2
			}
			if s.Country != [2]byte{} {
				items[2], present = float64(countryFP(s.Country)), present|4
			}
			if s.HasAmount {
				items[3], present = s.Amount, present|8
			}
		case addrRecord:
			items[0], items[1], present = fp(s.User), float64(s.User%regCount), 3
		case deviceRecord:
			if s.HasUser {
				items[0], present = fp(s.User), 1
			}
			items[1] = float64(s.UA)
		}
		a := &args[len(args)-1]
		*a = appendSubjectArgs(*a, rec, ms, add, present, &items)
	}
	for i := range calls {
		calls[i].setArgs(args[i])
	}
	return calls
}

// subjectCall is the recordScript call that makes the record of subject key of kind k from the keys of the
// layout before, counting nothing (redis_migrate.go).
func (r *Redis) subjectCall(k kind, key uint64, stamp int64) recordCall {
	var rc recordCall
	rc.addSubject(k, key)
	a := appendCommonArgs(nil, &[NumWindows]int32{}, 0, 0, false, true, 1, stamp, velocityTTLms, r.cfg.Retention.Milliseconds(), 0)
	rc.setArgs(appendSubjectArgs(a, kinds[k].facts, 0, false, 0, &[4]float64{}))
	return rc
}

// commonArgs is the common part of the arguments of a recordScript call for an event at time at.
func (r *Redis) commonArgs(at int64, reply bool, n int, stamp int64) []byte {
	mn := minuteOf(at)
	ix := bucketIndices(at)
	return appendCommonArgs(nil, &ix, mn, stampOf(mn), reply, r.probeOld.Load(), n, stamp, velocityTTLms, r.cfg.Retention.Milliseconds(), 0)
}

// addSubject adds the keys of subject key of kind k to the call.
func (rc *recordCall) addSubject(k kind, key uint64) {
	rc.kinds = append(rc.kinds, k)
	rc.keys = append(rc.keys, subjectKey(k, key, 'r'))
	if kinds[k].tombstoned {
		rc.keys = append(rc.keys, subjectKey(kindUser, key, 't'))
	}
}

// setArgs sets the call's arguments to a, filling in the number of subjects.
func (rc *recordCall) setArgs(a []byte) {
	a[runsLen(commonArgRuns)-1] = byte(len(rc.kinds))
	rc.args = []string{string(a)}
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
