package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Files of a data directory.
const (
	DBFile       = "state.db"      // bbolt: profiles and metadata
	SnapshotFile = "velocity.snap" // velocity counters, written on a clean stop
)

var (
	bucketProfiles = []byte("profiles") // 8-byte big-endian user key -> AppendProfile encoding
	bucketMeta     = []byte("meta")
	metaFormat     = []byte("format")
	metaKeyCheck   = []byte("keycheck")
)

const dataFormat = 1

// EmbeddedConfig configures OpenEmbedded.
type EmbeddedConfig struct {
	Dir     string // created (0700) if missing
	MaxKeys int    // bound on the subjects of each kind; DefaultVelocityKeys when <= 0
	// MaxProfiles bounds the profiles held in memory (DefaultProfiles when <= 0); the others are read from the
	// file when used.
	MaxProfiles int
	// FlushInterval is how often changed profiles are committed to disk, each commit fsynced. A crash (kill -9,
	// power loss) loses at most the changes of the last interval and of a commit in progress. 0 commits every
	// batch as soon as it forms (group commit: a batch is what changed during the previous commit).
	FlushInterval time.Duration
	// KeyCheck identifies the hash key the state's keys are made with (a fingerprint, never the key). A directory
	// written under another one is refused with ErrKeyMismatch, since none of its keys would match. Nil: no check.
	KeyCheck []byte
	Logger   *slog.Logger // nil: slog.Default()
	Metrics  *Metrics     // nil: none
}

// Embedded is the default backend: state in memory, made durable in a data directory. Profiles are written
// behind, in batches, by one goroutine into a bbolt file (one B+tree in one file, ACID commits, no background
// compaction); the request path only marks a profile changed. Velocity counters are kept in memory and written
// to a snapshot on a clean stop. Up to MaxProfiles profiles are held in memory: beyond, the least recently used
// ones whose last change is committed leave memory, and a request for one reads it back from the file (a read
// transaction, an mmap read, with no lock of riskd held). Start-up reads profiles back up to the bound.
type Embedded struct {
	*Memory
	dir      string
	db       *bolt.DB
	interval time.Duration
	log      *slog.Logger
	metrics  *Metrics

	notify   chan struct{}   // a profile changed (FlushInterval 0)
	flushReq chan chan error // flush now and answer
	quit     chan struct{}
	done     chan struct{}
	quitErr  error // the final flush's error, set before done closes

	batch   []Change
	keys    []uint64
	arena   []byte
	ents    []flushEntry
	lastErr atomic.Pointer[flushFailure]

	closeOnce sync.Once
	closeErr  error
}

// flushEntry is one change of a flush: its key and value at arena[start:start+8] and arena[start+8:end].
type flushEntry struct {
	deleted    bool
	start, end int
}

type flushFailure struct {
	at  time.Time
	err error
}

// OpenEmbedded opens (or creates) the state in cfg.Dir and loads it into memory. The directory is locked: a
// second riskd on it fails to open it.
func OpenEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(cfg.Dir, DBFile)
	// NoFreelistSync: commits do not write the free-page list, which in a large file is itself many pages; it is
	// rebuilt by a scan at open (part of the start-up time measured in BENCHMARKS.md).
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("data dir %s is in use by another process: %w", cfg.Dir, err)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	e := &Embedded{
		Memory:   newMemory(cfg.MaxKeys, cfg.MaxProfiles),
		dir:      cfg.Dir,
		db:       db,
		interval: cfg.FlushInterval,
		log:      cfg.Logger,
		metrics:  cfg.Metrics,
		flushReq: make(chan chan error),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if err := e.init(cfg.KeyCheck); err != nil {
		db.Close()
		return nil, err
	}
	start := time.Now()
	n, bad, err := e.loadProfiles()
	if err != nil {
		db.Close()
		return nil, err
	}
	if bad > 0 {
		e.log.Warn("skipped undecodable profiles in the data dir", "path", path, "count", bad)
	}
	keys, err := e.loadSnapshot(cfg.MaxKeys)
	if err != nil {
		e.log.Warn("velocity snapshot not used; counters start empty", "error", err.Error())
	}
	e.log.Info("state loaded", "dir", cfg.Dir, "profiles", n, "velocity_keys", keys, "took", time.Since(start).String())

	if e.interval <= 0 {
		e.notify = make(chan struct{}, 1)
	}
	e.Profiles.Track(e.notify)
	e.Profiles.SetLoader(e.readProfile)
	e.metrics.profiles(e.Profiles)
	go e.run()
	return e, nil
}

// init creates the buckets and checks the format and the hash key fingerprint.
func (e *Embedded) init(keyCheck []byte) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketProfiles); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		if f := meta.Get(metaFormat); f == nil {
			if err := meta.Put(metaFormat, []byte{dataFormat}); err != nil {
				return fmt.Errorf("data dir: %w", err)
			}
		} else if len(f) != 1 || f[0] != dataFormat {
			return fmt.Errorf("data dir %s: format %v, this riskd reads %d: %w", e.dir, f, dataFormat, ErrCorrupt)
		}
		if keyCheck == nil {
			return nil
		}
		switch have := meta.Get(metaKeyCheck); {
		case have == nil:
			return meta.Put(metaKeyCheck, keyCheck)
		case !bytes.Equal(have, keyCheck):
			return fmt.Errorf("data dir %s: start riskd with the hash key it was written with (--hash-key-file or RISKD_HASH_KEY), or move the directory aside: %w", e.dir, ErrKeyMismatch)
		}
		return nil
	})
}

// loadProfiles reads the stored profiles into memory, in key order (that is, in no particular order of users),
// until each shard is full; the rest stay in the file and are read when used. One goroutine per CPU (at most loadWorkers), each over its
// share of the key space (keys are uniform hashes), each with its own read transaction. A profile is decoded
// into one value per goroutine and copied into the table's record: records come in chunks, not one by one.
func (e *Embedded) loadProfiles() (n, bad int, err error) {
	workers := min(runtime.GOMAXPROCS(0), loadWorkers)
	var total, damaged atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo := uint64(w) * (math.MaxUint64 / uint64(workers))
			hi := uint64(w+1) * (math.MaxUint64 / uint64(workers))
			last := w == workers-1
			errs[w] = e.db.View(func(tx *bolt.Tx) error {
				var pr Profile
				c := tx.Bucket(bucketProfiles).Cursor()
				for k, v := c.Seek(bigEndian(lo)); k != nil; k, v = c.Next() {
					if len(k) != 8 {
						damaged.Add(1)
						continue
					}
					key := binary.BigEndian.Uint64(k)
					if key >= hi && !last {
						break
					}
					pr = Profile{}
					if decodeProfile(v, &pr) != nil {
						damaged.Add(1)
						continue
					}
					if !e.Profiles.insert(key, &pr) {
						continue
					}
					total.Add(1)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, fmt.Errorf("load profiles: %w", err)
	}
	return int(total.Load()), int(damaged.Load()), nil
}

// loadWorkers bounds the goroutines loading profiles; beyond a few, the map inserts contend on shard locks.
const loadWorkers = 4

// run is the writer: it commits changed profiles every interval (or as they come), and on demand.
func (e *Embedded) run() {
	defer close(e.done)
	var tick <-chan time.Time
	if e.interval > 0 {
		t := time.NewTicker(e.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			e.flush()
		case <-e.notify:
			e.flush()
		case done := <-e.flushReq:
			done <- e.flush()
		case <-e.quit:
			e.quitErr = e.flush()
			return
		}
	}
}

// flush commits every profile changed since the last flush in one transaction. On failure the profiles are
// marked changed again, so that the next flush retries them with their values of then.
func (e *Embedded) flush() error {
	e.batch = e.Profiles.Drain(e.batch[:0])
	if len(e.batch) == 0 {
		return nil
	}
	// A value given to bbolt's Put must stay valid until the commit: encode everything into one arena first.
	// bbolt writes fewer pages for keys in order: sort the small entries, not the profiles.
	e.arena, e.keys, e.ents = e.arena[:0], e.keys[:0], e.ents[:0]
	for i := range e.batch {
		c := &e.batch[i]
		e.keys = append(e.keys, c.Key)
		start := len(e.arena)
		e.arena = binary.BigEndian.AppendUint64(e.arena, c.Key)
		if !c.Deleted {
			e.arena = AppendProfile(e.arena, &c.Profile)
		}
		e.ents = append(e.ents, flushEntry{deleted: c.Deleted, start: start, end: len(e.arena)})
	}
	slices.SortFunc(e.ents, func(a, b flushEntry) int {
		return bytes.Compare(e.arena[a.start:a.start+8], e.arena[b.start:b.start+8])
	})
	start := time.Now()
	err := e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketProfiles)
		for _, en := range e.ents {
			k := e.arena[en.start : en.start+8 : en.start+8]
			if en.deleted {
				if err := b.Delete(k); err != nil {
					return err
				}
				continue
			}
			if err := b.Put(k, e.arena[en.start+8:en.end:en.end]); err != nil {
				return err
			}
		}
		return nil
	})
	took := time.Since(start)
	e.metrics.flushed(len(e.batch), took, err)
	if err != nil {
		err = fmt.Errorf("write %s: %w", filepath.Join(e.dir, DBFile), err)
		e.Profiles.MarkChanged(e.keys)
		if e.lastErr.Swap(&flushFailure{at: time.Now(), err: err}) == nil {
			e.log.Error("state write failed; changes are kept in memory and retried", "error", err.Error())
		}
		return err
	}
	e.Profiles.Committed()
	if e.lastErr.Swap(nil) != nil {
		e.log.Info("state writes succeed again", "dir", e.dir)
	}
	return nil
}

func bigEndian(k uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], k)
	return b[:]
}

// readProfile reads the profile of key from the file into out and reports whether there is one. An undecodable
// profile reads as none, as at start-up.
func (e *Embedded) readProfile(key uint64, out *Profile) bool {
	found := false
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], key)
	e.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketProfiles).Get(k[:])
		if v == nil {
			return nil
		}
		if decodeProfile(v, out) != nil {
			*out = Profile{}
			return nil
		}
		found = true
		return nil
	})
	return found
}

// Erase implements State: it returns once the erasure is committed to disk, whether the profile was in memory
// or only in the file.
func (e *Embedded) Erase(user uint64) (bool, error) {
	onDisk := false
	if e.Profiles.Spilled() {
		var p Profile
		onDisk = e.readProfile(user, &p)
		p = Profile{}
	}
	had, _ := e.Memory.Erase(user)
	return had || onDisk, e.Sync()
}

// Sync commits every change made so far and returns once it is on disk.
func (e *Embedded) Sync() error {
	done := make(chan error, 1)
	select {
	case e.flushReq <- done:
	case <-e.done:
		return fmt.Errorf("data dir %s: %w", e.dir, ErrUnavailable)
	}
	return <-done
}

// Expire implements State; the changes are written by the next flush. Profiles held only in the file are read
// back, expired and committed a batch at a time, so that memory stays near its bound.
func (e *Embedded) Expire(ctx context.Context, cutoff int64) (int, error) {
	n, err := e.Memory.Expire(ctx, cutoff)
	if err == nil && e.Profiles.Spilled() {
		var m int
		m, err = e.expireStored(ctx, cutoff)
		n += m
	}
	e.metrics.expiredProfiles(n)
	return n, err
}

// expireBatch is how many stored profiles one read transaction of expireStored scans.
const expireBatch = 1024

// expireStored expires the profiles of the file that need it, through memory (Profiles.expireKey), so that a
// profile used meanwhile is changed once, in one place. Each batch is committed before the next.
func (e *Embedded) expireStored(ctx context.Context, cutoff int64) (int, error) {
	changed := 0
	var from [8]byte
	var keys []uint64
	for more := true; more; {
		if err := ctx.Err(); err != nil {
			return changed, err
		}
		keys = keys[:0]
		more = false
		err := e.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketProfiles).Cursor()
			var p Profile
			k, v := c.Seek(from[:])
			for scanned := 0; k != nil; k, v = c.Next() {
				if scanned == expireBatch {
					copy(from[:], k)
					more = true
					return nil
				}
				scanned++
				if len(k) != 8 || decodeProfile(v, &p) != nil {
					continue
				}
				if ch, empty := p.Expire(cutoff); ch || empty {
					keys = append(keys, binary.BigEndian.Uint64(k))
				}
			}
			return nil
		})
		if err != nil {
			return changed, fmt.Errorf("expire stored profiles: %w", err)
		}
		n := 0
		for _, k := range keys {
			if e.Profiles.expireKey(k, cutoff) {
				n++
			}
		}
		if n > 0 {
			if err := e.Sync(); err != nil {
				return changed, err
			}
			changed += n
		}
	}
	return changed, nil
}

// Health implements State: the last write's failure, if it has not succeeded since.
func (e *Embedded) Health() error {
	if f := e.lastErr.Load(); f != nil {
		return fmt.Errorf("state writes failing since %s (changes held in memory): %w", f.at.UTC().Format(time.RFC3339), f.err)
	}
	return nil
}

// Close implements State: it commits the last changes, writes the velocity snapshot and closes the database.
// Calls after the first return the first one's result.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		close(e.quit)
		<-e.done
		e.closeErr = errors.Join(e.quitErr, e.saveSnapshot(), e.db.Close())
	})
	return e.closeErr
}
