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
	Dir       string // where decisions-*.ndjson files go; created if missing
	MaxBytes  int64  // rotate the current file beyond this size (64 MiB)
	MaxFiles  int    // rotated files kept; older ones are deleted (10)
	QueueSize int    // records waiting for the writer; beyond it records are dropped (8192)
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
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("decisionlog: %w", err)
	}
	l := &Log{cfg: cfg, queue: make(chan Record, cfg.QueueSize), done: make(chan struct{}), line: make([]byte, 0, 4096),
		enc: jsonenc.NewVectorEncoder()}
	if err := l.openCurrent(); err != nil {
		return nil, err
	}
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
	if l.size+int64(len(l.line)) > l.cfg.MaxBytes && l.size > 0 {
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
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("decisionlog: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("decisionlog: %w", err)
	}
	l.file, l.buf, l.size = f, bufio.NewWriterSize(f, 256<<10), st.Size()
	return nil
}

// rotate renames the current file aside, opens a new one and deletes the oldest beyond MaxFiles.
func (l *Log) rotate() {
	if l.flush(); l.buf == nil {
		return
	}
	l.file.Close()
	l.file, l.buf = nil, nil
	name := "decisions-" + time.Now().UTC().Format("20060102T150405.000000000") + ".ndjson"
	if err := os.Rename(filepath.Join(l.cfg.Dir, CurrentName), filepath.Join(l.cfg.Dir, name)); err != nil {
		l.writeErrors.Add(1)
	}
	if err := l.openCurrent(); err != nil {
		l.writeErrors.Add(1)
		return
	}
	l.prune()
}

func (l *Log) prune() {
	entries, err := os.ReadDir(l.cfg.Dir)
	if err != nil {
		return
	}
	var rotated []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, "decisions-") && strings.HasSuffix(n, ".ndjson") {
			rotated = append(rotated, n)
		}
	}
	slices.Sort(rotated) // the names sort by time
	for len(rotated) > l.cfg.MaxFiles {
		os.Remove(filepath.Join(l.cfg.Dir, rotated[0]))
		rotated = rotated[1:]
	}
}
