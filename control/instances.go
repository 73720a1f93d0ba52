package control

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// Instance is one riskd instance as the control plane sees it: what it serves, and when it last said so.
type Instance struct {
	ID              string            `json:"id"`
	RulesVersion    string            `json:"rules_version"`
	ControlVersions map[string]uint64 `json:"control_versions"` // by document: the version it serves (0: none)
	Seen            time.Time         `json:"seen"`
}

// Heartbeats is what a Store that instances share implements, so that each instance lists the others. A
// store that serves one process (Bolt) does not: the instance lists itself.
type Heartbeats interface {
	// Beat records inst (as of inst.Seen) until ttl after it, replacing the instance's previous beat.
	Beat(ctx context.Context, inst Instance, ttl time.Duration) error
	// Leave removes the beat of the instance id.
	Leave(ctx context.Context, id string) error
	// Instances returns the beats not expired at now.
	Instances(ctx context.Context, now time.Time) ([]Instance, error)
}

// maxInstances bounds the beats a store keeps: ids change with every restart (hostname:pid), and expired ones
// are dropped as beats come, but nothing may grow without bound.
const maxInstances = 256

// DefaultInstanceID names this process: hostname:pid.
func DefaultInstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "riskd"
	}
	return host + ":" + strconv.Itoa(os.Getpid())
}

// self is what this instance serves, as of now.
func (p *Plane) self(now time.Time) Instance {
	in := Instance{ID: p.cfg.InstanceID, ControlVersions: make(map[string]uint64, len(p.docs)), Seen: now.UTC()}
	for _, ds := range p.docs {
		ds.mu.Lock()
		in.ControlVersions[ds.doc.Name] = ds.served
		if ds.doc.Name == Rules {
			in.RulesVersion = ds.label
		}
		ds.mu.Unlock()
	}
	if p.cfg.RulesVersion != nil {
		in.RulesVersion = p.cfg.RulesVersion()
	}
	return in
}

// Beat publishes this instance's heartbeat in a store that instances share; Start does it every
// HeartbeatInterval and whenever the instance applies a new version.
func (p *Plane) Beat(ctx context.Context) error {
	hb, ok := p.cfg.Store.(Heartbeats)
	if !ok {
		return nil
	}
	if err := hb.Beat(ctx, p.self(p.cfg.Now()), p.cfg.HeartbeatTTL); err != nil {
		p.storeFailed(err)
		return err
	}
	return nil
}

// Instances returns the instances whose heartbeats have not expired, this one included (as it is now), by id.
// When the store cannot be read it returns this instance alone, with the error.
func (p *Plane) Instances(ctx context.Context) ([]Instance, error) {
	now := p.cfg.Now()
	self := p.self(now)
	hb, ok := p.cfg.Store.(Heartbeats)
	if !ok {
		return []Instance{self}, nil
	}
	list, err := hb.Instances(ctx, now)
	if err != nil {
		p.storeFailed(err)
		return []Instance{self}, err
	}
	list = slices.DeleteFunc(list, func(in Instance) bool { return in.ID == self.ID })
	list = append(list, self)
	slices.SortFunc(list, func(a, b Instance) int { return cmp.Compare(a.ID, b.ID) })
	return list, nil
}

// leave removes this instance's heartbeat, when it stops.
func (p *Plane) leave() {
	hb, ok := p.cfg.Store.(Heartbeats)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := hb.Leave(ctx, p.cfg.InstanceID); err != nil {
		p.cfg.Logger.Warn("control: could not remove this instance's heartbeat; it expires by itself", "error", err.Error())
	}
}

// memoryBeats are the heartbeats of a Memory store: instances in one process (tests) sharing it.
type memoryBeats struct {
	mu    sync.Mutex
	beats map[string]memoryBeat
}

type memoryBeat struct {
	in      Instance
	expires time.Time
}

// Beat implements Heartbeats.
func (m *Memory) Beat(_ context.Context, in Instance, ttl time.Duration) error {
	m.beats.mu.Lock()
	defer m.beats.mu.Unlock()
	if m.beats.beats == nil {
		m.beats.beats = map[string]memoryBeat{}
	}
	maps.DeleteFunc(m.beats.beats, func(_ string, b memoryBeat) bool { return !b.expires.After(in.Seen) })
	if _, ok := m.beats.beats[in.ID]; ok || len(m.beats.beats) < maxInstances {
		in.ControlVersions = maps.Clone(in.ControlVersions)
		m.beats.beats[in.ID] = memoryBeat{in: in, expires: in.Seen.Add(ttl)}
	}
	return nil
}

// Leave implements Heartbeats.
func (m *Memory) Leave(_ context.Context, id string) error {
	m.beats.mu.Lock()
	defer m.beats.mu.Unlock()
	delete(m.beats.beats, id)
	return nil
}

// Instances implements Heartbeats.
func (m *Memory) Instances(_ context.Context, now time.Time) ([]Instance, error) {
	m.beats.mu.Lock()
	defer m.beats.mu.Unlock()
	var out []Instance
	for _, b := range m.beats.beats {
		if b.expires.After(now) {
			in := b.in
			in.ControlVersions = maps.Clone(in.ControlVersions)
			out = append(out, in)
		}
	}
	return out, nil
}

// redisInstances is the key of the instances' heartbeats in Redis: one JSON object, by instance id, of
// [expiry in unix ms, the instance's JSON]. One key, changed only by beatScript, so that concurrent beats
// never lose one another and the commands stay within riskd's ACL (GET, SET, DEL, EVAL).
const redisInstances = redisPrefix + "instances"

// beatScript drops the expired beats and the beat of ARGV[2], then records ARGV[2]'s new beat (ARGV[4],
// expiring at ARGV[3]) unless ARGV[3] is empty (the instance leaves). ARGV[1] is now in unix ms; ARGV[5] is
// how long the key outlives its last beat, so that it vanishes when every instance has gone.
var beatScript = rueidis.NewLuaScript(`
local raw = redis.call('GET', KEYS[1])
local reg = {}
if raw then reg = cjson.decode(raw) end
local now = tonumber(ARGV[1])
local out = {}
local n = 0
for id, b in pairs(reg) do
  if id ~= ARGV[2] and tonumber(b[1]) > now then
    out[id] = b
    n = n + 1
  end
end
if ARGV[3] ~= '' and n < tonumber(ARGV[6]) then
  out[ARGV[2]] = {tonumber(ARGV[3]), ARGV[4]}
  n = n + 1
end
if n == 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], cjson.encode(out), 'PX', ARGV[5])
return n
`)

func (s *Redis) beat(ctx context.Context, now time.Time, id, expires, inst string, keep time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := beatScript.Exec(ctx, s.c, []string{redisInstances}, []string{strconv.FormatInt(now.UnixMilli(), 10), id, expires, inst,
		strconv.FormatInt(max(keep.Milliseconds(), 1), 10), strconv.Itoa(maxInstances)}).Error()
	return s.unavailable(err)
}

// Beat implements Heartbeats.
func (s *Redis) Beat(ctx context.Context, in Instance, ttl time.Duration) error {
	raw, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return s.beat(ctx, in.Seen, in.ID, strconv.FormatInt(in.Seen.Add(ttl).UnixMilli(), 10), string(raw), 2*ttl)
}

// Leave implements Heartbeats.
func (s *Redis) Leave(ctx context.Context, id string) error {
	return s.beat(ctx, time.Now(), id, "", "", time.Minute)
}

// Instances implements Heartbeats, with one GET.
func (s *Redis) Instances(ctx context.Context, now time.Time) ([]Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	raw, err := s.c.Do(ctx, s.c.B().Get().Key(redisInstances).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	if err != nil {
		return nil, s.unavailable(err)
	}
	var reg map[string][2]json.RawMessage
	if err := json.Unmarshal(raw, &reg); err != nil {
		return nil, fmt.Errorf("control store: instances: %w", err)
	}
	var out []Instance
	for id, b := range reg {
		var expires float64
		var inst string
		if json.Unmarshal(b[0], &expires) != nil || json.Unmarshal(b[1], &inst) != nil || int64(expires) <= now.UnixMilli() {
			continue
		}
		var in Instance
		if err := json.Unmarshal([]byte(inst), &in); err != nil || in.ID != id {
			continue
		}
		out = append(out, in)
	}
	return out, nil
}
