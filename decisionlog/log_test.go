package decisionlog

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

func testSet(t *testing.T) *rules.Set {
	t.Helper()
	set, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func record(set *rules.Set, i int) Record {
	var r Record
	tenant := []byte("brand-a") // a request-owned string: the record must copy it
	v := features.Vector{Event: "login", Tenant: string(tenant), Country: "SE", ASN: 29518, IsTor: true, NewDevice: true}
	r.Fill(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(), uint64(i), 0xabc, rules.StepUp, 85, set, []int{0, 6}, &v)
	copy(tenant, "XXXXXXX")
	return r
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line is not JSON: %v: %s", err, sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

func TestLogWritesRecords(t *testing.T) {
	dir := t.TempDir()
	set := testSet(t)
	l, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		r := record(set, i)
		l.Append(&r)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, filepath.Join(dir, CurrentName))
	if len(lines) != 100 {
		t.Fatalf("%d lines, want 100", len(lines))
	}
	m := lines[0]
	f := m["features"].(map[string]any)
	fired := m["fired"].([]any)
	if m["decision"] != "step_up" || m["score"] != 85.0 || m["user"] != "0000000000000abc" || m["time"] != "2026-01-02T03:04:05Z" ||
		m["rules_version"] != set.Version || len(fired) != 2 || fired[0] != set.Rules[0].ID {
		t.Fatalf("record: %v", m)
	}
	if f["tenant"] != "brand-a" || f["country"] != "SE" || f["is_tor"] != true || len(f) != len(features.Fields()) {
		t.Fatalf("features: %v", f)
	}
	if st := l.Stats(); st.Appended != 100 || st.Written != 100 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLogRotatesBySize(t *testing.T) {
	dir := t.TempDir()
	set := testSet(t)
	l, err := Open(Config{Dir: dir, MaxBytes: 8 << 10, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		r := record(set, i)
		l.Append(&r)
		if i%20 == 0 {
			time.Sleep(time.Millisecond) // rotated names carry the time; let it move
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	rotated := 0
	for _, e := range entries {
		info, _ := e.Info()
		if info.Size() > 8<<10 {
			t.Errorf("%s is %d bytes, over the 8 KiB limit", e.Name(), info.Size())
		}
		if strings.HasPrefix(e.Name(), "decisions-") {
			rotated++
		}
	}
	if rotated != 3 {
		t.Fatalf("%d rotated files kept, want 3: %v", rotated, entries)
	}
}

// TestLogOnFullDiskNeverBlocks writes the log to a full device: decisions keep flowing, and every record
// that could not be written is counted.
func TestLogOnFullDiskNeverBlocks(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	dir := t.TempDir()
	if err := os.Symlink("/dev/full", filepath.Join(dir, CurrentName)); err != nil {
		t.Fatal(err)
	}
	set := testSet(t)
	l, err := Open(Config{Dir: dir, QueueSize: 64, FlushEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	const n = 20000
	for i := range n {
		r := record(set, i)
		l.Append(&r)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("appending %d records to a full disk took %v", n, took)
	}
	l.Close()
	st := l.Stats()
	if st.WriteErrors == 0 || st.Dropped == 0 || st.Written != 0 || st.Dropped != n {
		t.Fatalf("a full disk went unnoticed: %+v", st)
	}
	t.Logf("full disk: %+v", st)
}
