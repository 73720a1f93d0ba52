package control

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/riskd/riskd/internal/redisconn"
)

// Redis key layout of the control store. Every key carries the hash tag {control}, so that in Redis Cluster
// they share one slot and the append script may touch them together.
//
//	riskd:{control}:head:<document>       string the newest version number
//	riskd:{control}:v:<document>:<n>      string version n (JSON)
//	riskd:{control}:instances             string the instances' heartbeats (instances.go)
//
// The commands are GET, SET, DEL, EVALSHA and EVAL: within the ACL the README gives riskd's user.
const redisPrefix = "riskd:{control}:"

func redisHead(doc string) string { return redisPrefix + "head:" + doc }

func redisVersion(doc string, n uint64) string {
	return redisPrefix + "v:" + doc + ":" + strconv.FormatUint(n, 10)
}

// appendScript writes version ARGV[1]+1 (ARGV[2], at KEYS[2]) when the head (KEYS[1]) is still ARGV[1], and
// drops KEYS[3], the version that falls out of the history (version 0 when none does); -1 when another instance appended first.
var appendScript = rueidis.NewLuaScript(`
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
if head ~= tonumber(ARGV[1]) then return -1 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], head + 1)
redis.call('DEL', KEYS[3])
return head + 1
`)

// RedisConfig is how the control store reaches the Redis the instances share: the same server, user and TLS
// settings as the state's (see store.RedisConfig).
type RedisConfig struct {
	Addrs              []string
	Username, Password string
	TLS                *tls.Config
	// Timeout bounds one command (2 s): the control plane is never on the request path.
	Timeout time.Duration
}

// Redis is a Store in Redis, shared by every instance connected to it.
type Redis struct {
	c       rueidis.Client
	timeout time.Duration
}

// OpenRedis connects to Redis. The client connects lazily again after an outage; a store that cannot be
// reached answers ErrUnavailable (wrapped) until it can.
func OpenRedis(cfg RedisConfig) (*Redis, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	opts, err := redisconn.Options(redisconn.Config{Addrs: cfg.Addrs, Username: cfg.Username, Password: cfg.Password,
		TLS: cfg.TLS, WriteTimeout: cfg.Timeout})
	if err != nil {
		return nil, fmt.Errorf("control store: %w", err)
	}
	c, err := rueidis.NewClient(opts)
	if err != nil {
		return nil, fmt.Errorf("control store: %w: %w", ErrUnavailable, err)
	}
	return NewRedis(c, cfg.Timeout), nil
}

// NewRedis returns a store over the client c, which it closes on Close.
func NewRedis(c rueidis.Client, timeout time.Duration) *Redis {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &Redis{c: c, timeout: timeout}
}

func (s *Redis) unavailable(err error) error {
	if err == nil || errors.Is(err, ErrConflict) || errors.Is(err, ErrNoVersion) {
		return err
	}
	return fmt.Errorf("%w: redis: %w", ErrUnavailable, err)
}

// Heads implements Store, with one round trip.
func (s *Redis) Heads(ctx context.Context, docs []string) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmds := make(rueidis.Commands, len(docs))
	for i, d := range docs {
		cmds[i] = s.c.B().Get().Key(redisHead(d)).Build()
	}
	out := make([]uint64, len(docs))
	for i, r := range s.c.DoMulti(ctx, cmds...) {
		n, err := r.AsUint64()
		switch {
		case rueidis.IsRedisNil(err):
		case err != nil:
			return nil, s.unavailable(err)
		default:
			out[i] = n
		}
	}
	return out, nil
}

// Get implements Store.
func (s *Redis) Get(ctx context.Context, doc string, n uint64) (Version, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	raw, err := s.c.Do(ctx, s.c.B().Get().Key(redisVersion(doc, n)).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return Version{}, ErrNoVersion
	}
	if err != nil {
		return Version{}, s.unavailable(err)
	}
	var v Version
	if err := json.Unmarshal(raw, &v); err != nil {
		return Version{}, fmt.Errorf("control store: version %d of %s: %w", n, doc, err)
	}
	return v, nil
}

// Append implements Store.
func (s *Redis) Append(ctx context.Context, prev uint64, v Version) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	v.Number = prev + 1
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// Version 0 never exists: deleting it is a no-op with a key of the same slot.
	drop := redisVersion(v.Document, 0)
	if v.Number > KeepVersions {
		drop = redisVersion(v.Document, v.Number-KeepVersions)
	}
	n, err := appendScript.Exec(ctx, s.c, []string{redisHead(v.Document), redisVersion(v.Document, v.Number), drop},
		[]string{strconv.FormatUint(prev, 10), string(raw)}).AsInt64()
	if err != nil {
		return s.unavailable(err)
	}
	if n < 0 {
		return ErrConflict
	}
	return nil
}

// Close implements Store.
func (s *Redis) Close() error {
	s.c.Close()
	return nil
}
