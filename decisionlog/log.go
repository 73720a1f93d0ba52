package decisionlog

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/internal/jsonenc"
)

// Config configures a Log.
type Config struct {
	Dir      string // where decisions-*.ndjson files go; created if missing
	MaxBytes int64  // rotate the current file beyond this size (64 MiB)
	MaxFiles int    // rotated files kept; older ones are deleted (10)
	// MaxAge is the retention by age: a record is deleted at the latest MaxAge after it was written (0: kept
	// until MaxFiles pushes it out). See rotateAge for how.
	MaxAge    time.Duration
	QueueSize int // records waiting for the writer; beyond it records are dropped (8192)
	// FlushEvery bounds how long a written record may sit in the write buffer (200 ms).
	FlushEvery time.Duration
}

// Log is an asynchronous, size-rotated NDJSON decision log. Append is safe for concurrent use and never
// blocks; Close drains the queue and closes the file.
type Log struct {
	cfg     Config
	queue   chan Record
	done    chan struct{}
	closing sync.Once

	appended, dropped, written, writeErrors atomic.Uint64

	// Owned by the writer goroutine.
	file    *os.File
	buf     *bufio.Writer
	size    int64
	started time.Time // when the current file got its first record; zero while it is empty
	pruned  time.Time // last retention pass
	line    []byte
	enc     *jsonenc.VectorEncoder
	pending uint64 // records in buf, not yet known to be on disk
}

// CurrentName is the file being written; rotated files are named decisions-<UTC time>.ndjson.
const CurrentName = "decisions.ndjson"

// Open creates the directory if needed, opens the current file for appending and starts the writer.
func Open(cfg Config) (*Log, error) {
	if cfg.Dir == "" {
		return nil, errors.New("decisionlog: no directory")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = 10
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 8192
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 200 * time.Millisecond
	}
	// Owner only: records hold keyed hashes of users with the places and networks they logged in from.
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("decisionlog: %w", err)
	}
	l := &Log{cfg: cfg, queue: make(chan Record, cfg.QueueSize), done: make(chan struct{}), line: make([]byte, 0, 4096),
		enc: jsonenc.NewVectorEncoder()}
	if err := l.adoptPrevious(); err != nil {
		return nil, err
	}
	if err := l.openCurrent(); err != nil {
		return nil, err
	}
	l.prune(time.Now())
	go l.run()
	return l, nil
}

// Append queues r for writing, or drops it (counted) when the queue is full. It copies r and never blocks.
func (l *Log) Append(r *Record) {
	if l == nil {
		return
	}
	select {
	case l.queue <- *r:
		l.appended.Add(1)
	default:
		l.dropped.Add(1)
	}
}

// Stats are the log's counters since Open.
type Stats struct {
	Appended, Dropped, Written, WriteErrors uint64
}

// Stats returns the counters; Dropped counts records lost to a full queue or a failed write.
func (l *Log) Stats() Stats {
	return Stats{Appended: l.appended.Load(), Dropped: l.dropped.Load(), Written: l.written.Load(), WriteErrors: l.writeErrors.Load()}
}

// RegisterMetrics exposes the log's counters in set.
func (l *Log) RegisterMetrics(set *metrics.Set) {
	set.NewGauge("riskd_decision_log_written_total", func() float64 { return float64(l.written.Load()) })
	set.NewGauge("riskd_decision_log_dropped_total", func() float64 { return float64(l.dropped.Load()) })
	set.NewGauge("riskd_decision_log_write_errors_total", func() float64 { return float64(l.writeErrors.Load()) })
	set.NewGauge("riskd_decision_log_queue_length", func() float64 { return float64(len(l.queue)) })
}

// Close writes what is queued, flushes and closes the file. Append must not be called after Close.
func (l *Log) Close() error {
	l.closing.Do(func() { close(l.queue) })
	<-l.done
	l.flush()
	if l.file == nil {
		return nil
	}
	return l.file.Close()
}

func (l *Log) run() {
	defer close(l.done)
	tick := time.NewTicker(l.cfg.FlushEvery)
	defer tick.Stop()
	for {
		select {
		case r, ok := <-l.queue:
			if !ok {
				return
			}
			l.write(&r)
		case <-tick.C:
			l.flush()
			l.expire(time.Now())
		}
	}
}

func (l *Log) write(r *Record) {
	if l.buf == nil {
		// The last rotation or flush failed (a full or read-only disk): try again, or drop.
		if err := l.openCurrent(); err != nil {
			l.dropped.Add(1)
			return
		}
	}
	l.line = r.AppendJSON(l.line[:0], l.enc)
	if l.size > 0 && (l.size+int64(len(l.line)) > l.cfg.MaxBytes || l.tooOld(time.Now())) {
		l.rotate()
		if l.buf == nil {
			l.dropped.Add(1)
			return
		}
	}
	before := l.buf.Buffered()
	if _, err := l.buf.Write(l.line); err != nil {
		l.pending++
		l.fail(err)
		return
	}
	if l.buf.Buffered() < before+len(l.line) {
		// The buffer filled up and went to the file: the records before this one are written.
		l.written.Add(l.pending)
		l.pending = 0
	}
	l.pending++
	if l.size == 0 {
		l.started = time.Now()
	}
	l.size += int64(len(l.line))
}

func (l *Log) flush() {
	if l.buf == nil {
		return
	}
	if err := l.buf.Flush(); err != nil {
		l.fail(err)
		return
	}
	l.written.Add(l.pending)
	l.pending = 0
}

// fail forgets the broken writer; the next record reopens the file. The records that were in its buffer are
// lost and counted as dropped.
func (l *Log) fail(error) {
	l.writeErrors.Add(1)
	l.dropped.Add(l.pending)
	l.pending = 0
	if l.file != nil {
		l.file.Close()
	}
	l.file, l.buf = nil, nil
}

func (l *Log) openCurrent() error {
	path := filepath.Join(l.cfg.Dir, CurrentName)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("decisionlog: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("decisionlog: %w", err)
	}
	l.file, l.buf, l.size = f, bufio.NewWriterSize(f, 256<<10), st.Size()
	if l.size > 0 && l.started.IsZero() {
		// Reopened after a failed write: its records are this run's, at most as old as the last rotation.
		l.started = time.Now()
	}
	return nil
}

// rotate renames the current file aside, opens a new one and deletes the oldest beyond MaxFiles.
func (l *Log) rotate() {
	if l.flush(); l.buf == nil {
		return
	}
	l.file.Close()
	l.file, l.buf = nil, nil
	if err := os.Rename(filepath.Join(l.cfg.Dir, CurrentName), filepath.Join(l.cfg.Dir, rotatedName(time.Now()))); err != nil {
		l.writeErrors.Add(1)
	}
	l.started = time.Time{}
	if err := l.openCurrent(); err != nil {
		l.writeErrors.Add(1)
		return
	}
	l.prune(time.Now())
}

const rotatedLayout = "20060102T150405.000000000"

// rotatedName is the name of a file rotated at t: the names sort by time, and say when the file's newest record
// was written.
func rotatedName(t time.Time) string {
	return "decisions-" + t.UTC().Format(rotatedLayout) + ".ndjson"
}

// adoptPrevious rotates aside the current file a previous run left, named by its last write, so that every file
// is written by one run, whose age rotation bounds the time it spans (see rotateAge); appending to it would make
// its first record older than the retention can tell. Files an earlier version created group-readable become
// owner-only.
func (l *Log) adoptPrevious() error {
	path := filepath.Join(l.cfg.Dir, CurrentName)
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("decisionlog: %w", err)
	}
	for _, n := range l.rotatedFiles() {
		os.Chmod(filepath.Join(l.cfg.Dir, n), 0o600)
	}
	if st.Size() == 0 {
		return os.Chmod(path, 0o600)
	}
	name := rotatedName(st.ModTime())
	if _, err := os.Stat(filepath.Join(l.cfg.Dir, name)); err == nil {
		name = rotatedName(time.Now())
	}
	if err := os.Rename(path, filepath.Join(l.cfg.Dir, name)); err != nil {
		return fmt.Errorf("decisionlog: %w", err)
	}
	return os.Chmod(filepath.Join(l.cfg.Dir, name), 0o600)
}

// rotateAge is how long the current file collects records before it is rotated, so that the retention can
// delete whole files: a file spans at most rotateAge (plus one FlushEvery, the writer's check interval) and is
// deleted once its oldest possible record is MaxAge old, that is MaxAge - span after its newest. A record is
// thus kept at most MaxAge (plus the minute between two passes), and at least MaxAge minus a day (an eighth
// of MaxAge when that is shorter).
func (l *Log) rotateAge() time.Duration {
	return min(24*time.Hour, l.cfg.MaxAge/8)
}

// tooOld reports whether the current file must be rotated for the retention.
func (l *Log) tooOld(now time.Time) bool {
	return l.cfg.MaxAge > 0 && !l.started.IsZero() && now.Sub(l.started) >= l.rotateAge()
}

// expire rotates the current file once it is rotateAge old and deletes rotated files past the retention. Called
// by the writer at every flush tick; the directory is read at most once per rotateAge/4 (a minute at most).
func (l *Log) expire(now time.Time) {
	if l.cfg.MaxAge <= 0 {
		return
	}
	if l.size > 0 && l.buf != nil && l.tooOld(now) {
		l.rotate() // prunes
		return
	}
	if now.Sub(l.pruned) >= min(time.Minute, l.rotateAge()/4) {
		l.prune(now)
	}
}

func (l *Log) rotatedFiles() []string {
	entries, err := os.ReadDir(l.cfg.Dir)
	if err != nil {
		return nil
	}
	var rotated []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, "decisions-") && strings.HasSuffix(n, ".ndjson") {
			rotated = append(rotated, n)
		}
	}
	slices.Sort(rotated) // the names sort by time
	return rotated
}

// prune deletes the oldest rotated files beyond MaxFiles, and those past the retention (MaxAge).
func (l *Log) prune(now time.Time) {
	l.pruned = now
	rotated := l.rotatedFiles()
	for len(rotated) > l.cfg.MaxFiles {
		os.Remove(filepath.Join(l.cfg.Dir, rotated[0]))
		rotated = rotated[1:]
	}
	if l.cfg.MaxAge <= 0 {
		return
	}
	// A file's newest record is from the time in its name (or its last write, for a name that does not parse);
	// its oldest at most one span before.
	span := l.rotateAge() + l.cfg.FlushEvery
	for _, n := range rotated {
		end, err := time.Parse(rotatedLayout, strings.TrimSuffix(strings.TrimPrefix(n, "decisions-"), ".ndjson"))
		if err != nil {
			st, serr := os.Stat(filepath.Join(l.cfg.Dir, n))
			if serr != nil {
				continue
			}
			end = st.ModTime()
		}
		if now.Sub(end.Add(-span)) < l.cfg.MaxAge {
			break // sorted by time: the rest are newer
		}
		os.Remove(filepath.Join(l.cfg.Dir, n))
	}
}
