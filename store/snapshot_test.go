package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestReadAddReadsBeforeCounting(t *testing.T) {
	v := NewVelocity(0)
	var out [NumMetrics]Counts
	v.ReadAdd(5, t0, &out, 0)
	if v.Len() != 0 {
		t.Fatal("a read without counts created a key")
	}
	both := SetOf(Attempts, Failures)
	for i := range 3 {
		v.ReadAdd(5, t0+int64(i), &out, both)
		if out[Attempts][Minute] != uint32(i) || out[Failures][Minute] != uint32(i) || out[Successes][Minute] != 0 {
			t.Fatalf("read %d: %v", i, out)
		}
	}
	if got := read(v, 5, t0+3); got[Attempts] != (Counts{3, 3, 3, 3}) {
		t.Fatalf("after three: %v", got[Attempts])
	}
}

func TestVelocitySnapshotRoundTrip(t *testing.T) {
	v := NewVelocity(0)
	for k := range uint64(5000) {
		v.Add(mix(k), Metric(k%3), t0+int64(k), uint32(k%7+1))
	}
	var buf bytes.Buffer
	n, err := v.writeSnapshot(&buf)
	if err != nil || n != 5000 {
		t.Fatalf("wrote %d: %v", n, err)
	}
	w := NewVelocity(0)
	if n, err := w.readSnapshot(&buf); err != nil || n != 5000 || w.Len() != 5000 {
		t.Fatalf("read %d (len %d): %v", n, w.Len(), err)
	}
	for k := range uint64(5000) {
		if a, b := read(v, mix(k), t0+5000), read(w, mix(k), t0+5000); a != b {
			t.Fatalf("key %d: %v, restored %v", k, a, b)
		}
	}
}

// A damaged snapshot is refused with an error naming the table: a cut-off stream, and a block claiming more
// records than a writer ever puts in one (what a corrupted count looks like), which is not read at all.
func TestVelocitySnapshotDamaged(t *testing.T) {
	v := NewVelocity(0)
	for k := range uint64(100) {
		v.Add(mix(k), Attempts, t0, 1)
	}
	var buf bytes.Buffer
	if _, err := v.writeSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	whole := buf.Bytes()
	// Each shard is written as its own block; with these 100 keys the last block holds one record: cut into it.
	cut := whole[:len(whole)-(8+ringBodyLen)/2-4]
	if n, err := NewVelocity(0).readSnapshot(bytes.NewReader(cut)); err == nil || n != 99 {
		t.Errorf("cut-off snapshot: read %d records, err %v; want the 99 whole ones and an error", n, err)
	}
	huge := binary.LittleEndian.AppendUint32(nil, snapshotBlock+1)
	w := NewVelocity(0)
	if _, err := w.readSnapshot(bytes.NewReader(append(huge, whole[4:]...))); !errors.Is(err, ErrCorrupt) || w.Len() != 0 {
		t.Errorf("oversized block: err %v, %d keys restored; want ErrCorrupt and none", err, w.Len())
	}
}
