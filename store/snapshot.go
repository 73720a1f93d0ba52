package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// A snapshot of the subjects' tables is written on a clean stop and read at the next start, so that a deploy or
// a restart does not give an attacker fresh counters. It is not a log: after a crash the counters start empty
// (they describe at most the last 24 hours). Format, little-endian: per table, blocks of [uint32 n][n records],
// ended by n = 0. Every table is written and read by the same code (tableSnapshot): a record is its key and
// its body.
//
// Version 3 holds one table per kind of subject, in kind order, whose records are the subjects' records: the
// key, then the bytes of the subject's Redis record (the rings, then the facts of facts_codec.go). The versions
// before kept the rings and the facts in tables of their own, and still load: version 2 holds the velocity
// tables of users, IPs, devices, subnets and ASNs, then the facts of users, IPs, subnets and devices; version 1
// the first three velocity tables (the rest start empty).

// snapshotMagics start a snapshot file of each version (index: version - 1); a CRC-32C of everything before
// it ends it.
var snapshotMagics = [...][]byte{[]byte("RISKDVS1"), []byte("RISKDVS2"), []byte("RISKDVS3")}

// snapshotMagic starts a snapshot this riskd writes.
var snapshotMagic = snapshotMagics[len(snapshotMagics)-1]

// snapshotter is one table of a snapshot.
type snapshotter interface {
	writeSnapshot(w io.Writer) (int, error)
	readSnapshot(r io.Reader) (int, error)
}

// ErrCorrupt reports stored state that cannot be decoded.
var ErrCorrupt = errors.New("store: corrupt data")

// snapshotBlock is how many records are copied under one shard lock at most.
const snapshotBlock = 1024

// readBlocks reads one table of a snapshot: blocks of a uint32 count and that many records of size bytes, up to
// a zero count; add gets each record's bytes (valid during the call). It returns how many records it read.
func readBlocks(r io.Reader, size int, what string, add func(rec []byte)) (int, error) {
	var hdr [4]byte
	buf := make([]byte, 0, snapshotBlock*size)
	total := 0
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return total, fmt.Errorf("%s: %w", what, err)
		}
		n := int(binary.LittleEndian.Uint32(hdr[:]))
		if n == 0 {
			return total, nil
		}
		if n > snapshotBlock {
			return total, fmt.Errorf("%s: block of %d records: %w", what, n, ErrCorrupt)
		}
		buf = buf[:n*size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return total, fmt.Errorf("%s: %w", what, err)
		}
		for j := range n {
			add(buf[j*size : (j+1)*size])
		}
		total += n
	}
}

// tableSnapshot is a table as one table of a snapshot.
type tableSnapshot[R any, P snapshotRecord[R]] struct{ t *table[R, P] }

func snapshotOf[R any, P snapshotRecord[R]](t *table[R, P]) snapshotter {
	return tableSnapshot[R, P]{t}
}

// writeSnapshot and readSnapshot make a subject table a table of a snapshot.
func (t *kindTable[F, PF]) writeSnapshot(w io.Writer) (int, error) {
	return snapshotOf(&t.table).writeSnapshot(w)
}
func (t *kindTable[F, PF]) readSnapshot(r io.Reader) (int, error) {
	return snapshotOf(&t.table).readSnapshot(r)
}

// readRings reads a velocity table of a snapshot of version 1 or 2 (keys and rings) into t's records.
func (t *kindTable[F, PF]) readRings(r io.Reader) (int, error) {
	return readBlocks(r, 8+ringBodyLen, t.name+" snapshot", func(b []byte) {
		t.restore(le.Uint64(b), true, func(rec *subjectRecord[F, PF]) { rec.velocityRecord.decodeBody(b[8:]) })
	})
}

// readFacts reads a facts table of a snapshot of version 2 (keys and facts) into t's records.
func (t *kindTable[F, PF]) readFacts(r io.Reader) (int, error) {
	var zero F
	return readBlocks(r, 8+len(PF(&zero).appendBody(nil)), t.name+" facts snapshot", func(b []byte) {
		t.restore(le.Uint64(b), true, func(rec *subjectRecord[F, PF]) { PF(&rec.facts).decodeBody(b[8:]) })
	})
}

// writeSnapshot writes every key's record (key, then body) to w, copying records out of a shard under its lock
// and writing them after it is released.
func (ts tableSnapshot[R, P]) writeSnapshot(w io.Writer) (int, error) {
	t := ts.t
	size := 8 + bodyLen[R, P]()
	recs := make([]R, 0, snapshotBlock)
	buf := make([]byte, 0, 4+snapshotBlock*size)
	total := 0
	for i := range t.shards {
		s := &t.shards[i]
		for from := uint32(0); ; from += snapshotBlock {
			recs = recs[:0]
			s.mu.Lock()
			for p := from; p < s.n && len(recs) < snapshotBlock; p++ {
				recs = append(recs, *s.rec(p))
			}
			s.mu.Unlock()
			if len(recs) == 0 {
				break
			}
			buf = binary.LittleEndian.AppendUint32(buf[:0], uint32(len(recs)))
			for j := range recs {
				r := P(&recs[j])
				buf = binary.LittleEndian.AppendUint64(buf, r.recordKey())
				buf = r.appendBody(buf)
			}
			if _, err := w.Write(buf); err != nil {
				return total, fmt.Errorf("%s snapshot: %w", t.name, err)
			}
			total += len(recs)
		}
	}
	_, err := w.Write([]byte{0, 0, 0, 0})
	return total, err
}

// readSnapshot adds the records of one table written by writeSnapshot; keys already held keep theirs.
func (ts tableSnapshot[R, P]) readSnapshot(r io.Reader) (int, error) {
	return readBlocks(r, 8+bodyLen[R, P](), ts.t.name+" snapshot", func(b []byte) {
		ts.t.restore(binary.LittleEndian.Uint64(b), false, func(rec P) { rec.decodeBody(b[8:]) })
	})
}

// bodyLen is the encoded size of an R without its key.
func bodyLen[R any, P snapshotRecord[R]]() int {
	var zero R
	return len(P(&zero).appendBody(nil))
}

// appendBody appends the ring heads and counts, the layout shared by snapshots and Redis.
func (r *velocityRecord) appendBody(b []byte) []byte {
	for _, h := range r.head {
		b = binary.LittleEndian.AppendUint32(b, uint32(h))
	}
	for w := range r.n {
		for m := range r.n[w] {
			for _, c := range r.n[w][m] {
				b = binary.LittleEndian.AppendUint16(b, c)
			}
		}
	}
	return b
}

// decodeBody reads what appendBody wrote.
func (r *velocityRecord) decodeBody(b []byte) {
	for w := range r.head {
		r.head[w] = int32(binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	for w := range r.n {
		for m := range r.n[w] {
			for s := range r.n[w][m] {
				r.n[w][m][s] = binary.LittleEndian.Uint16(b)
				b = b[2:]
			}
		}
	}
}

// saveSnapshot writes the velocity tables to the data directory: to a temporary file, synced, then renamed over
// the previous snapshot, so that a crash while writing leaves no half snapshot behind.
func (e *Embedded) saveSnapshot() error {
	path := filepath.Join(e.dir, SnapshotFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("velocity snapshot: %w", err)
	}
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
	w.Write(snapshotMagic)
	for _, t := range e.snapshotTables() {
		if _, err = t.writeSnapshot(w); err != nil {
			break
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		_, err = f.Write(crc.Sum(nil))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("velocity snapshot %s: %w", path, err)
	}
	return syncDir(e.dir)
}

// loadSnapshot reads the snapshot left by the last clean stop, if any, and removes it: it describes that stop
// only, and would be stale after the next crash. A damaged snapshot is not used.
func (e *Embedded) loadSnapshot(maxKeys int) (int, error) {
	path := filepath.Join(e.dir, SnapshotFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("velocity snapshot: %w", err)
	}
	defer os.Remove(path)
	n, err := e.readSnapshot(data)
	if err != nil {
		e.resetCounters(maxKeys)
		return 0, fmt.Errorf("velocity snapshot %s: %w", path, err)
	}
	return n, nil
}

func (e *Embedded) readSnapshot(data []byte) (int, error) {
	body := len(data) - 4
	if body < len(snapshotMagic) {
		return 0, ErrCorrupt
	}
	version := 0
	for i, magic := range snapshotMagics {
		if bytes.Equal(data[:len(magic)], magic) {
			version = i + 1
		}
	}
	if version == 0 {
		return 0, fmt.Errorf("not a velocity snapshot this riskd reads (%q): %w", data[:len(snapshotMagic)], ErrCorrupt)
	}
	if crc32.Checksum(data[:body], crc32.MakeTable(crc32.Castagnoli)) != binary.BigEndian.Uint32(data[body:]) {
		return 0, fmt.Errorf("checksum: %w", ErrCorrupt)
	}
	r := bytes.NewReader(data[len(snapshotMagic):body])
	total, err := e.readSnapshotTables(version, r)
	if err != nil {
		return 0, err
	}
	if r.Len() != 0 {
		return 0, fmt.Errorf("trailing bytes: %w", ErrCorrupt)
	}
	return total, nil
}

// snapshotTables are the tables of a snapshot this riskd writes, in its order.
func (m *Memory) snapshotTables() []snapshotter {
	ts := make([]snapshotter, numKinds)
	for k := range numKinds {
		ts[k] = m.velocity[k]
	}
	return ts
}

// readSnapshotTables reads the tables of a snapshot of version (1 to 3) from r: this version's tables, or the
// velocity tables of an earlier one in kind order, then (version 2) its facts tables in their sections' order.
func (m *Memory) readSnapshotTables(version int, r io.Reader) (int, error) {
	var parts []func(io.Reader) (int, error)
	for k := range numKinds {
		switch {
		case version == len(snapshotMagics):
			parts = append(parts, m.velocity[k].readSnapshot)
		case kinds[k].sinceSnapshot <= version:
			parts = append(parts, m.velocity[k].readRings)
		}
	}
	if version == 2 {
		var facts [numFactsKinds]func(io.Reader) (int, error)
		for k := range numKinds {
			if sec := kinds[k].factsSection; sec >= 0 {
				facts[sec] = m.velocity[k].readFacts
			}
		}
		parts = append(parts, facts[:]...)
	}
	total := 0
	for _, read := range parts {
		n, err := read(r)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
