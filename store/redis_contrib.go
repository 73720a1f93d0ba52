package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"time"
	"unsafe"

	"github.com/redis/rueidis"
)

// Shared counters by contribution. Each instance writes only what it counted itself: a subject's hash
// riskd:{<tag>:<key>}:c holds one field per instance (its id, 16 hex digits), whose value is that instance's
// own record of the subject (rings, then facts: the bytes of a snapshot's record). An instance reads every
// field, merges them in Go (merge.go) into its view of the subject, and decides on that view. Redis runs only
// HGETALL, HSET, PEXPIRE and HDEL: no script, no read-modify-write, so nothing of a subject's logic costs
// Redis CPU, and a write sent twice (a retry after an outage) counts nothing twice.
//
// An instance keeps two tables of each kind: own (the events it counted, the source of its fields) and view
// (r.local: every instance's contributions as last read, plus its own events since). A decision reads a
// subject from Redis only when its view is older than Fresh (250 ms): a subject that every decision concerns
// (an address under attack, an ASN) is read a few times a second, not at every decision, and a subject seen
// once in a while (a user, a device) is read at its decision, as before. The writer sends the own records of
// the subjects counted since its last batch, each once however many events it counted, every few
// milliseconds. What another instance counted reaches this one's decisions after at most the writer's
// interval, the round trip and Fresh: a few hundred milliseconds, against counting windows of a minute to a
// day.
//
// The fields of instances that stopped stay until their records age out: a reader drops (HDEL) a field whose
// record counted nothing within the subject's TTL (28 h; a device's, one retention period) before the event it
// decides, so a hash holds at most the instances that counted the subject within it. Such a record adds nothing
// to a reading at that time (the longest window is a day), so a reader leaves it out either way. A hash expires
// with its TTL after its last write.
const contribSuffix = 'c'

// contribFresh is RedisConfig.Fresh's default.
const contribFresh = 250 * time.Millisecond

// expireEvery is how often (ms) an instance pushes the TTL of a hash it writes: a PEXPIRE with every HSET was a
// third of the writes' Redis commands. A hash then expires at least its TTL less an hour after its last write:
// 27 h, still past the longest window (a day); a device's, a retention period less an hour.
const expireEvery = 3600 * 1000

// newInstanceID is a random, non-zero instance id: a restarted instance writes fields of its own, and its
// predecessor's age out.
func newInstanceID() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// fieldOf is the hash field of instance id.
func fieldOf(id uint64) string {
	const hexDigits = "0123456789abcdef"
	var b [16]byte
	for i := range b {
		b[i] = hexDigits[id>>(60-4*i)&0xf]
	}
	return string(b[:])
}

// ttlOf is how long (ms) a subject of kind k is kept after its last event.
func (r *Redis) ttlOf(k kind) int64 {
	if k == kindDevice {
		return r.cfg.Retention.Milliseconds()
	}
	return velocityTTLms
}

// refresh reads the contributions of s's subjects whose view is older than Fresh (every subject with force)
// and rebuilds their views from them, for a reading at event time at; with p non-nil, when it reads the user it
// reads the user's profile into p in the same round trip, and reports that it did and whether there is one. A
// user whose view is fresh keeps the local copy of the profile, as it keeps its counters: another instance's
// change reaches it at most Fresh later, and a decision whose subjects are all fresh makes no round trip.
// Nothing changes unless the whole answer could be read.
func (r *Redis) refresh(c rueidis.Client, s *Subjects, at int64, force bool, timeout time.Duration, p *Profile) (read, has bool, err error) {
	now := time.Now().UnixMilli()
	probe := r.probeOld.Load()
	var first [numKinds]int // the first command of each subject read; -1: not read
	cmds := make([]rueidis.Completed, 0, 2*numKinds+1)
	for k := range numKinds {
		first[k] = -1
		key, has := s.subject(k)
		if !has || !force && now-r.local.velocity[k].syncedAt(key) < r.fresh {
			continue
		}
		first[k] = len(cmds)
		cmds = append(cmds, c.B().Hgetall().Key(subjectKey(k, key, contribSuffix)).Build())
		if probe { // the layouts before: one record ('r'), or rings ('v') and facts ('x')
			cmds = append(cmds, c.B().Get().Key(subjectKey(k, key, 'r')).Build(),
				c.B().Get().Key(subjectKey(k, key, 'v')).Build(), c.B().Get().Key(subjectKey(k, key, 'x')).Build())
		}
	}
	profileAt := -1
	if p != nil && first[kindUser] >= 0 {
		profileAt = len(cmds)
		cmds = append(cmds, c.B().Get().Key(subjectKey(kindUser, s.User, 'p')).Build())
	}
	if len(cmds) == 0 {
		return false, false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	res := c.DoMulti(ctx, cmds...)
	cancel()

	// Read everything before changing anything: a partial answer must not mix Redis and local views.
	var reads [numKinds]subjectContribs
	for k := range numKinds {
		if first[k] < 0 {
			continue
		}
		if err := r.parseContribs(k, res[first[k]:], probe, at, &reads[k]); err != nil {
			return false, false, err
		}
	}
	if profileAt >= 0 {
		if has, err = parseProfile(res[profileAt], p); err != nil {
			return false, false, err
		}
	}
	buf := make([]byte, 0, slices.Max(r.bodyLen[:])) // every kind's own record in turn: each is merged before the next
	for k := range numKinds {
		if first[k] < 0 {
			continue
		}
		key, _ := s.subject(k)
		rd := &reads[k]
		own, ok := r.own[k].appendRecord(key, buf[:0])
		if ok {
			buf = own[:0]
		} else if rd.own != nil {
			// Evicted from the own table, still in Redis: take it back rather than write over it.
			r.own[k].rebuild(key, [][]byte{rd.own}, 0)
			own, ok = rd.own, true
		}
		if ok {
			rd.bodies = append(rd.bodies, own)
		}
		r.local.velocity[k].rebuild(key, rd.bodies, now)
		for _, f := range rd.stale {
			r.queue(redisWrite{kind: writeForget, subj: subjectOf(k, key), field: f})
		}
	}
	return profileAt >= 0, has, nil
}

// subjectContribs is what a read found of one subject: the other instances' records, this instance's own
// field, and the fields that aged out.
type subjectContribs struct {
	bodies [][]byte
	own    []byte
	stale  []string
}

// parseContribs reads the answers to a subject's read for a reading at event time at (res: its HGETALL, then
// with probe the GETs of the layouts before) into out. A value of the wrong length is damaged and left out
// (counted), as a record of the layout before was.
func (r *Redis) parseContribs(k kind, res []rueidis.RedisResult, probe bool, at int64, out *subjectContribs) error {
	pairs, err := res[0].ToArray() // field, value, field, value...
	if err == nil && len(pairs)%2 != 0 {
		err = fmt.Errorf("%w: HGETALL answered %d elements", ErrCorrupt, len(pairs))
	}
	if err != nil {
		return fmt.Errorf("redis read of a %s: %w", kinds[k].name, err)
	}
	n := r.bodyLen[k]
	for i := 0; i < len(pairs); i += 2 {
		f, ferr := pairs[i].ToString()
		v, verr := pairs[i+1].ToString()
		if ferr != nil || verr != nil || len(v) != n {
			r.metrics.redisError()
			continue
		}
		// The reply's own bytes, not a copy: records are only decoded (merged), never written to.
		b := unsafe.Slice(unsafe.StringData(v), n)
		switch {
		case f == r.field:
			out.own = b
		case (bodyActiveUntil(b) + r.ttlOf(k)/1000) < at:
			out.stale = append(out.stale, f)
		default:
			out.bodies = append(out.bodies, b)
		}
	}
	if !probe {
		return nil
	}
	var old [3][]byte // 'r', 'v', 'x'
	for i := range old {
		b, err := res[1+i].AsBytes()
		if err != nil && !rueidis.IsRedisNil(err) {
			return fmt.Errorf("redis read of a %s: %w", kinds[k].name, err)
		}
		old[i] = b
	}
	if b := legacyRecord(old[0], old[1], old[2], n); b != nil {
		out.bodies = append(out.bodies, b)
	}
	return nil
}

// legacyRecord is the record the layouts before held for a subject whose body is n bytes: the record rec, or
// else its rings ring and facts facts (zeros for a missing part); nil when none is held, or damaged.
func legacyRecord(rec, ring, facts []byte, n int) []byte {
	if len(rec) == n {
		return rec
	}
	ringOK, factsOK := len(ring) == ringBodyLen, len(facts) == n-ringBodyLen && n > ringBodyLen
	if !ringOK && !factsOK {
		return nil
	}
	b := make([]byte, n)
	if ringOK {
		copy(b, ring)
	}
	if factsOK {
		copy(b[ringBodyLen:], facts)
	}
	return b
}

// subjectOf is the Subjects holding only subject key of kind k.
func subjectOf(k kind, key uint64) Subjects {
	var s Subjects
	switch k {
	case kindUser:
		s.User, s.HasUser = key, true
	case kindIP:
		s.IP, s.HasIP = key, true
	case kindDevice:
		s.Device, s.HasDevice = key, true
	case kindSubnet:
		s.Subnet, s.HasSubnet = key, true
	case kindASN:
		s.ASN, s.HasASN = key, true
	}
	return s
}

// countOwn counts the event in the own tables, as the view counted it.
func (r *Redis) countOwn(s *Subjects, at int64, ms MetricSet) {
	if ms == 0 {
		return
	}
	for k := range numKinds {
		if key, has := s.subject(k); has {
			r.own[k].record(key, *s, at, ms)
		}
	}
}

// subjectRef names one subject: a writer's batch sends each subject it holds once.
type subjectRef struct {
	k   kind
	key uint64
}

// contribCmds appends, for every subject counted in batch's writes (each once), the write of this instance's
// record of it (HSET of its field, and PEXPIRE of its hash when this instance has not pushed its TTL for
// expireEvery), and for every writeForget the HDEL of its field; owners gets the batch entry of each command. A
// subject the own table no longer holds (erased, evicted) is skipped.
func (r *Redis) contribCmds(c rueidis.Client, batch []redisWrite, cmds []rueidis.Completed, owners []int) ([]rueidis.Completed, []int) {
	seen := make(map[subjectRef]struct{}, len(batch))
	now := time.Now().UnixMilli()
	// The records are appended to chunks of a few dozen records, and each command takes its bytes without a
	// copy (BinaryString): the bytes a command took are never written again, the next record goes after them.
	longest := slices.Max(r.bodyLen[:])
	chunk := min(len(batch)*int(numKinds), 64) * longest
	var buf []byte
	for i := range batch {
		w := &batch[i]
		switch w.kind {
		case writeCount:
			for k := range numKinds {
				key, has := w.subj.subject(k)
				if !has {
					continue
				}
				ref := subjectRef{k, key}
				if _, dup := seen[ref]; dup {
					continue
				}
				seen[ref] = struct{}{}
				var expire, ok bool
				if cap(buf)-len(buf) < longest {
					buf = make([]byte, 0, chunk)
				}
				start := len(buf)
				if buf, expire, ok = r.own[k].appendWrite(key, buf, now, expireEvery); !ok {
					continue
				}
				hk := subjectKey(k, key, contribSuffix)
				cmds = append(cmds, c.B().Hset().Key(hk).FieldValue().FieldValue(r.field, rueidis.BinaryString(buf[start:])).Build())
				owners = append(owners, i)
				if expire {
					cmds = append(cmds, c.B().Pexpire().Key(hk).Milliseconds(r.ttlOf(k)).Build())
					owners = append(owners, i)
				}
			}
		case writeForget:
			for k := range numKinds {
				if key, has := w.subj.subject(k); has {
					cmds = append(cmds, c.B().Hdel().Key(subjectKey(k, key, contribSuffix)).Field(w.field).Build())
					owners = append(owners, i)
				}
			}
		}
	}
	return cmds, owners
}
