package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/riskd/riskd/internal/redisconn"
)

// RedisConfig configures OpenRedis. Zero values take the defaults in parentheses.
type RedisConfig struct {
	// Addrs are a standalone Redis, or seed nodes of a Redis Cluster: host:port, or the path of a Unix socket.
	Addrs []string
	// Username and Password authenticate riskd (AUTH): an ACL user, or the password alone for requirepass (the
	// user "default"). Empty: no AUTH.
	Username, Password string
	// TLS, when set, is how every connection (to each cluster node too) is made: the CA that signs Redis's
	// certificates and riskd's client certificate, if Redis asks for one. Nil: plain TCP.
	TLS *tls.Config
	// Timeout bounds the one round trip a decision makes (25 ms). Beyond it the decision is made on local state;
	// after a few late answers in a row Redis is treated as out of reach until a probe succeeds.
	Timeout time.Duration
	// Fresh is how long a subject read from Redis is decided on from this instance's view before it is read
	// again (250 ms; redis_contrib.go): what other instances counted meanwhile reaches this one that much later.
	// A negative Fresh reads every subject at every decision.
	Fresh time.Duration
	// FlushEvery is how long the writer gathers the subjects counted before it sends their records (5 ms): a
	// subject counted many times within it is written once. Zero: the default; negative: at once.
	FlushEvery time.Duration
	// MaxKeys bounds each local table of subjects (DefaultVelocityKeys): the view and this instance's own
	// contributions, each.
	MaxKeys int
	// MaxProfiles bounds the local copy of profiles (DefaultProfiles): evicting one costs only its next read
	// from Redis.
	MaxProfiles int
	// Retention is how long profile entries are kept (180 days): a profile key expires this long after its last
	// change, and entries older than this are dropped whenever a profile is written.
	Retention time.Duration
	// KeyCheck identifies the hash key (a fingerprint, never the key). The first instance stores it in Redis; an
	// instance started with another key refuses to share state (ErrKeyMismatch). Nil: no check.
	KeyCheck []byte
	// QueueLen bounds the writes waiting to be sent, also while Redis is out of reach (65536); beyond it writes
	// are dropped and counted.
	QueueLen int
	Logger   *slog.Logger // nil: slog.Default()
	Metrics  *Metrics     // nil: none
}

// Redis is the shared backend: several riskd instances keep velocity and profiles in one Redis (or Redis
// Cluster), so an attack spread across instances is counted as one.
//
// Each instance writes its own contributions to the subjects' counters and facts and reads everyone's
// (redis_contrib.go). A decision makes at most one pipelined round trip: an HGETALL of each subject whose
// view is older than Fresh, and a GET of the profile. Its counts, and everything else (successes, profile
// changes), are queued and written by one goroutine in pipelined batches. Every change is applied to a local
// Memory (the view), which answers whenever Redis is out of reach: decisions then go on with this instance's
// own view, queued writes wait (bounded) and are sent once a probe finds Redis again.
type Redis struct {
	local *Memory // the view: every instance's contributions as last read, and this instance's events since
	// own holds this instance's contributions: the events it counted, per kind of subject.
	own     [numKinds]subjectTable
	id      uint64 // this instance's, random at start
	field   string // fieldOf(id)
	fresh   int64  // cfg.Fresh, ms
	bodyLen [numKinds]int
	cfg     RedisConfig
	opts    rueidis.ClientOption // how connect reaches Redis
	log     *slog.Logger
	metrics *Metrics
	cas     *script
	move    *script // moveScript

	client atomic.Pointer[rueidis.Client] // nil until the first successful connection
	up     atomic.Bool
	late   atomic.Int32 // decisions in a row whose read ran out of time
	// probeOld: a subject without a record may still be in the layout before's keys (redis_migrate.go).
	probeOld atomic.Bool
	failure  atomic.Pointer[redisFailure]
	logMu    sync.Mutex
	lastLog  time.Time

	erasedUpTo string // stream position of the last erasure applied locally; probe goroutine only

	writes    chan redisWrite
	quit      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type redisFailure struct {
	since time.Time
	err   error
}

const (
	maxLate      = 3 // late reads in a row that take Redis out of the request path until a probe succeeds
	probeEvery   = 250 * time.Millisecond
	adminTimeout = 2 * time.Second // export, erasure, batches of writes
)

// OpenRedis connects to Redis. When Redis cannot be reached it still returns, with decisions on local state, and
// keeps trying in the background; a key mismatch is an error.
func OpenRedis(cfg RedisConfig) (*Redis, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("redis: no address")
	}
	opts, err := redisconn.Options(redisconn.Config{Addrs: cfg.Addrs, Username: cfg.Username, Password: cfg.Password,
		TLS: cfg.TLS, WriteTimeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 25 * time.Millisecond
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 180 * 24 * time.Hour
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1 << 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Fresh == 0 {
		cfg.Fresh = contribFresh
	}
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = contribFlushEvery
	}
	r := &Redis{
		local:   NewBoundedMemory(cfg.MaxKeys, cfg.MaxProfiles),
		id:      newInstanceID(),
		fresh:   cfg.Fresh.Milliseconds(),
		cfg:     cfg,
		opts:    opts,
		log:     cfg.Logger,
		metrics: cfg.Metrics,
		cas:     newScript(casScript),
		move:    newScript(moveScript),
		writes:  make(chan redisWrite, cfg.QueueLen),
		quit:    make(chan struct{}),
	}
	r.field = fieldOf(r.id)
	for k := range numKinds {
		r.own[k] = newSubjectTable(k, cfg.MaxKeys)
		r.bodyLen[k] = r.own[k].bodyLen()
	}
	r.metrics.profiles(r.local.Profiles)
	r.probeOld.Store(true)
	if err := r.connect(); err != nil {
		if errors.Is(err, ErrKeyMismatch) || errors.Is(err, ErrAuth) {
			return nil, err
		}
		r.fail(err)
	}
	r.wg.Add(3)
	go r.probe()
	go r.writer()
	go r.migrator()
	return r, nil
}

// Local is the local state Redis falls back on.
func (r *Redis) Local() *Memory { return r.local }

// connect makes the client and checks the key fingerprint.
func (r *Redis) connect() error {
	c, err := rueidis.NewClient(r.opts)
	if err != nil {
		return r.connectError(err)
	}
	if err := r.checkKey(c); err != nil {
		c.Close()
		if errors.Is(err, ErrKeyMismatch) {
			return err
		}
		return r.connectError(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	r.followErasures(ctx, c) // on failure the first poll tries again
	cancel()
	r.client.Store(&c)
	r.recover()
	return nil
}

// connectError names Redis in err, and marks as ErrAuth the errors that retrying cannot fix: a refused password
// or ACL user, a command the ACL denies, a certificate that does not verify, a TLS alert from Redis (its
// verdict on riskd's client certificate) or a plain-text answer to TLS.
func (r *Redis) connectError(err error) error {
	addrs := strings.Join(r.cfg.Addrs, ",")
	if refused(err) {
		return fmt.Errorf("redis %s refused riskd (check --redis-user, the password, the ACL and the TLS settings): %w: %w", addrs, ErrAuth, err)
	}
	if t := r.cfg.TLS; t != nil && len(t.Certificates) == 0 && t.GetClientCertificate == nil {
		// Redis resets the connection of a client without the certificate it requires (tls-auth-clients yes):
		// that looks like any network failure, so say what else it may be.
		return fmt.Errorf("redis %s (over TLS without a client certificate; if Redis requires one, give --redis-cert and --redis-key): %w", addrs, err)
	}
	return fmt.Errorf("redis %s: %w", addrs, err)
}

func refused(err error) bool {
	if re, ok := rueidis.IsRedisErr(err); ok {
		msg := re.Error()
		for _, p := range []string{"NOAUTH", "WRONGPASS", "NOPERM"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	var (
		verify  *tls.CertificateVerificationError
		alert   tls.AlertError
		header  tls.RecordHeaderError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &header) || errors.As(err, &unknown) ||
		errors.As(err, &host) || errors.As(err, &invalid)
}

// checkKey stores the key fingerprint if Redis has none, and compares it otherwise.
func (r *Redis) checkKey(c rueidis.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if r.cfg.KeyCheck == nil {
		return c.Do(ctx, c.B().Ping().Build()).Error()
	}
	want := string(r.cfg.KeyCheck)
	res := c.DoMulti(ctx,
		c.B().Set().Key(keyCheckKey).Value(want).Nx().Build(),
		c.B().Get().Key(keyCheckKey).Build())
	have, err := res[1].ToString()
	if err != nil {
		return fmt.Errorf("redis key check: %w", err)
	}
	if have != want {
		return fmt.Errorf("redis %s holds state keyed with another hash key (--hash-key-file or RISKD_HASH_KEY) than this instance's: %w",
			strings.Join(r.cfg.Addrs, ","), ErrKeyMismatch)
	}
	return nil
}

// replied reports whether err is an answer Redis gave (an error reply such as WRONGTYPE or OOM, or a damaged
// value) rather than Redis not answering. Such an error concerns one key or one write, not Redis as a whole:
// it is counted and the key is done without, but Redis stays in the request path.
func replied(err error) bool {
	var re *rueidis.RedisError
	if errors.As(err, &re) {
		// These say that Redis as a whole cannot serve now, not that a key is bad.
		return !re.IsNil() && !re.IsLoading() && !re.IsClusterDown() && !re.IsTryAgain()
	}
	return errors.Is(err, ErrCorrupt)
}

// conn returns the client while Redis is reachable, else nil: callers then use local state without waiting.
func (r *Redis) conn() rueidis.Client {
	if !r.up.Load() {
		return nil
	}
	if c := r.client.Load(); c != nil {
		return *c
	}
	return nil
}

// fail marks Redis out of reach after err. Only the transition is logged, at most one line every 10 s, so a
// flapping Redis under load does not flood the log.
func (r *Redis) fail(err error) {
	r.metrics.redisError()
	if !r.up.Swap(false) && r.failure.Load() != nil {
		return
	}
	r.failure.Store(&redisFailure{since: time.Now(), err: err})
	r.metrics.setRedisUp(false)
	r.logMu.Lock()
	defer r.logMu.Unlock()
	if time.Since(r.lastLog) > 10*time.Second {
		r.lastLog = time.Now()
		r.log.Warn("redis unreachable: deciding on local state until it is back", "error", err.Error())
	}
}

// refusedLater records that Redis, out of reach when riskd started, now answers but refuses riskd (see
// connectError): Health and the log say so rather than go on reporting the first error, while riskd keeps
// trying (an operator may fix the ACL without restarting riskd).
func (r *Redis) refusedLater(err error) {
	f := r.failure.Load()
	if f == nil || errors.Is(f.err, ErrAuth) {
		return
	}
	r.failure.Store(&redisFailure{since: f.since, err: err})
	r.log.Error("redis refuses riskd: deciding on local state until the credentials or TLS settings match", "error", err.Error())
}

// recover marks Redis reachable again.
func (r *Redis) recover() {
	r.late.Store(0)
	if !r.up.Swap(true) {
		r.metrics.setRedisUp(true)
		if f := r.failure.Swap(nil); f != nil {
			r.log.Info("redis reachable again: sharing state", "down_for", time.Since(f.since).Round(time.Millisecond).String())
		}
	}
}

// probe checks Redis while it is out of reach, and connects if it never has.
func (r *Redis) probe() {
	defer r.wg.Done()
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
		}
		if r.up.Load() {
			if c := r.client.Load(); c != nil {
				r.pollErasures(*c)
			}
			continue
		}
		cp := r.client.Load()
		if cp == nil {
			if err := r.connect(); err != nil {
				r.fail(err)
				if errors.Is(err, ErrAuth) {
					r.refusedLater(err)
				}
			}
			continue
		}
		c := *cp
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Do(ctx, c.B().Ping().Build()).Error()
		cancel()
		// The erasures made while Redis was out of reach first: the writer, held until Redis is back, must not
		// send this instance's records of users erased meanwhile.
		if err == nil && r.pollErasures(c) == nil {
			r.recover()
		}
	}
}

// Health implements State.
func (r *Redis) Health() error {
	if r.up.Load() {
		return nil
	}
	f := r.failure.Load()
	if f == nil {
		return fmt.Errorf("redis %s: %w", strings.Join(r.cfg.Addrs, ","), ErrUnavailable)
	}
	return fmt.Errorf("redis %s unreachable since %s, deciding on local state: %w", strings.Join(r.cfg.Addrs, ","),
		f.since.UTC().Format(time.RFC3339), f.err)
}

// Close implements State: queued writes get a last chance to reach Redis, then the client is closed.
// Calls after the first do nothing.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		close(r.quit)
		r.wg.Wait()
		if c := r.client.Load(); c != nil {
			(*c).Close()
		}
	})
	return nil
}
