package store

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
)

// testRecord is the smallest record a table holds: a key, a last activity and a payload that says which key
// and event wrote it, so that a record moved or restored to the wrong key is seen.
type testRecord struct {
	key     uint64
	last    int32
	payload uint64
}

func (r *testRecord) recordKey() uint64 { return r.key }
func (r *testRecord) setKey(key uint64) { r.key = key }
func (r *testRecord) lastActive() int32 { return r.last }
func (r *testRecord) appendBody(b []byte) []byte {
	return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint32(b, uint32(r.last)), r.payload)
}
func (r *testRecord) decodeBody(b []byte) {
	r.last, r.payload = int32(binary.LittleEndian.Uint32(b)), binary.LittleEndian.Uint64(b[4:])
}

// put writes key's record for an event at minute mn, creating it, under the table's lock.
func put(t *table[testRecord, *testRecord], key uint64, mn int32) {
	s := t.shard(key)
	s.mu.Lock()
	p, ok := s.find(key)
	if !ok {
		p = s.insert(key)
		s.rec(p).key = key
	}
	r := s.rec(p)
	r.last, r.payload = mn, key^0x5555
	s.mu.Unlock()
}

func lookup(t *table[testRecord, *testRecord], key uint64) (testRecord, bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.get(key)
	if r == nil {
		return testRecord{}, false
	}
	return *r, true
}

// TestTableBound: however many keys come, every shard keeps within its bound and the bounds add up to the
// table's; the keys held read back their own records.
func TestTableBound(t *testing.T) {
	for _, bound := range []int{1, 15, 1000, 5000} {
		tb := newTable[testRecord](bound, "test")
		sum := 0
		for i := range tb.shards {
			sum += int(tb.shards[i].max)
		}
		if sum != bound {
			t.Fatalf("bound %d: shard bounds add up to %d", bound, sum)
		}
		for k := range uint64(10 * bound) {
			put(tb, mix(k), int32(k))
		}
		if n := tb.Len(); n != bound {
			t.Fatalf("bound %d: %d keys held", bound, n)
		}
		for i := range tb.shards {
			s := &tb.shards[i]
			if s.n > s.max {
				t.Fatalf("bound %d: shard %d holds %d, bound %d", bound, i, s.n, s.max)
			}
			for p := range s.n {
				if r := s.rec(p); r.payload != r.key^0x5555 {
					t.Fatalf("bound %d: position %d holds %+v", bound, p, *r)
				}
			}
		}
	}
}

// TestTableEvictsLeastRecentlyActive: a full table evicts the keys idle longest (sampled), not the active ones.
func TestTableEvictsLeastRecentlyActive(t *testing.T) {
	const bound = 1 << 14 // shards of 128
	tb := newTable[testRecord](bound, "test")
	for k := range uint64(bound) {
		put(tb, mix(k), 1) // old
	}
	for k := range uint64(bound / 2) {
		put(tb, mix(k), 1000) // the first half stays active
	}
	for k := range uint64(bound / 2) {
		put(tb, mix(1<<32+k), 2000) // newcomers take the room of the idle half
	}
	active, idle := 0, 0
	for k := range uint64(bound) {
		if _, ok := lookup(tb, mix(k)); ok {
			if k < bound/2 {
				active++
			} else {
				idle++
			}
		}
	}
	// An active key goes only when all of its eviction's samples are active or new: while its shard still
	// holds idle keys, rarely.
	if active < bound/2*8/10 || idle > bound/2/4 {
		t.Fatalf("kept %d of %d active keys and %d of %d idle ones", active, bound/2, idle, bound/2)
	}
}

// TestShelfKeeps: records that the policy keeps do not leave; the shelf goes over its bound up to its room, and
// there evicts anyway. Among the records that may leave, the least recently active (by the policy) goes.
func TestShelfKeeps(t *testing.T) {
	s := newShelf[testRecord](16, 48)
	pin := true
	pinned := keeping[*testRecord](func(r *testRecord) (int32, bool) { return r.last, !pin })
	for k := range uint64(48) {
		p, evicted := s.insertKeeping(mix(k), pinned)
		s.rec(p).key = mix(k)
		if evicted {
			t.Fatalf("key %d evicted a pinned record", k)
		}
	}
	if s.n != 48 {
		t.Fatalf("%d records, want 48 (over the bound of 16)", s.n)
	}
	p, evicted := s.insertKeeping(mix(100), pinned)
	s.rec(p).key = mix(100)
	if !evicted || s.n != 48 {
		t.Fatalf("at its room: evicted %v, %d records", evicted, s.n)
	}
	pin = false
	if _, ok := s.victimKeeping(pinned, false); !ok {
		t.Fatal("no victim among unpinned records")
	}
	for p := range s.n {
		s.rec(p).last = int32(b2u(p < 4)) // four recent records, the rest older
	}
	for range 100 {
		// All eight samples among the four most recent: probability (4/48)^8.
		if v, _ := s.victimKeeping(pinned, false); s.rec(v).last == 1 {
			t.Fatalf("evicted position %d, among the most recently active", v)
		}
	}
	for s.n > s.max {
		v, ok := s.victimKeeping(pinned, false)
		if !ok {
			t.Fatal("no victim over the bound")
		}
		s.deleteAt(v)
	}
	for p := range s.n {
		if got, ok := s.find(s.rec(p).key); !ok || got != p {
			t.Fatalf("position %d: index says %d, %v", p, got, ok)
		}
	}
}

// TestTableConcurrent: prefetches (without a lock) race with inserts, evictions and deletes (under it), which
// the race detector checks; the records read under the lock are always their keys'.
func TestTableConcurrent(t *testing.T) {
	tb := newTable[testRecord](512, "test")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range 20000 {
				k := mix(rng.Uint64N(2048))
				tb.prefetchIndex(k)
				tb.prefetchRecord(k)
				switch i % 4 {
				case 0:
					tb.delete(k)
				case 1:
					if r, ok := lookup(tb, k); ok && (r.key != k || r.payload != k^0x5555) {
						t.Errorf("key %x reads %+v", k, r)
						return
					}
				default:
					put(tb, k, int32(i))
				}
			}
		}()
	}
	wg.Wait()
	if n := tb.Len(); n > 512 {
		t.Fatalf("%d keys held, bound 512", n)
	}
}

// TestTableSnapshotRoundTrip: a table read back from its snapshot holds the same records; a key already held
// keeps its own record.
func TestTableSnapshotRoundTrip(t *testing.T) {
	const keys = 200_000 // over 128 shards: more than a snapshot block (1024 records) in each
	tb := newTable[testRecord](1<<18, "test")
	for k := range uint64(keys) {
		put(tb, mix(k), int32(k))
	}
	var buf bytes.Buffer
	n, err := snapshotOf(tb).writeSnapshot(&buf)
	if err != nil || n != keys {
		t.Fatalf("wrote %d records: %v", n, err)
	}
	back := newTable[testRecord](1<<18, "test")
	put(back, mix(7), -1)
	n, err = snapshotOf(back).readSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil || n != keys || back.Len() != keys {
		t.Fatalf("read %d records, hold %d: %v", n, back.Len(), err)
	}
	for k := range uint64(keys) {
		r, ok := lookup(back, mix(k))
		want := testRecord{mix(k), int32(k), mix(k) ^ 0x5555}
		if k == 7 {
			want.last = -1
		}
		if !ok || r != want {
			t.Fatalf("key %d: %+v, %v; want %+v", k, r, ok, want)
		}
	}
	if _, err := snapshotOf(back).readSnapshot(bytes.NewReader(buf.Bytes()[:buf.Len()-10])); err == nil {
		t.Fatal("a cut snapshot reads without error")
	}
}

// TestRecordsHoldNoPointers: the records of every table live in slabs the collector does not scan
// (chunkArena), so none may hold a pointer.
func TestRecordsHoldNoPointers(t *testing.T) {
	var pointers func(reflect.Type) bool
	pointers = func(typ reflect.Type) bool {
		switch typ.Kind() {
		case reflect.Array:
			return pointers(typ.Elem())
		case reflect.Struct:
			for i := range typ.NumField() {
				if pointers(typ.Field(i).Type) {
					return true
				}
			}
			return false
		case reflect.Pointer, reflect.UnsafePointer, reflect.Slice, reflect.Map, reflect.String, reflect.Chan,
			reflect.Func, reflect.Interface:
			return true
		}
		return false
	}
	for _, r := range []any{subjectRecord[userFacts, *userFacts]{}, subjectRecord[addrFacts, *addrFacts]{},
		subjectRecord[deviceFacts, *deviceFacts]{}, subjectRecord[ringOnly, *ringOnly]{}, profileRecord{}, testRecord{}} {
		if typ := reflect.TypeOf(r); pointers(typ) {
			t.Errorf("%v holds a pointer", typ)
		}
	}
}
