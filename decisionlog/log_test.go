package decisionlog

import (
	"bufio"
	"encoding/json"
	"fmt"
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

// TestLogFilesAreOwnerOnly: records link a user's keyed hash to places and networks, so the directory and every
// file (current, rotated, and those a previous run left group-readable) are the owner's alone.
func TestLogFilesAreOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// What an earlier version left: a group-readable current file.
	if err := os.WriteFile(filepath.Join(dir, CurrentName), []byte("{}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, CurrentName), 0o640)
	os.RemoveAll(filepath.Join(dir, "fresh"))
	set := testSet(t)
	for _, d := range []string{dir, filepath.Join(dir, "fresh")} {
		l, err := Open(Config{Dir: d, MaxBytes: 4 << 10})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			r := record(set, i)
			l.Append(&r)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(path string, want os.FileMode) {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
	check(filepath.Join(dir, "fresh"), 0o700)
	n := 0
	for _, d := range []string{dir, filepath.Join(dir, "fresh")} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "decisions") {
				check(filepath.Join(d, e.Name()), 0o600)
				n++
			}
		}
	}
	if n < 4 {
		t.Fatalf("%d log files, want the adopted one, rotated ones and two current ones", n)
	}
}

// TestLogRetentionByAge: the current file rotates as it ages and rotated files are deleted once their oldest
// possible record is past MaxAge, so no record outlives the retention even when traffic never fills a file.
func TestLogRetentionByAge(t *testing.T) {
	dir := t.TempDir()
	set := testSet(t)
	const maxAge = 1600 * time.Millisecond // rotateAge: 200 ms
	// A file of a previous run, rotated long ago, and its current file, last written two retentions ago.
	old := filepath.Join(dir, rotatedName(time.Now().Add(-time.Hour)))
	os.WriteFile(old, []byte("{}\n"), 0o600)
	prev := filepath.Join(dir, CurrentName)
	os.WriteFile(prev, []byte("{}\n"), 0o600)
	os.Chtimes(prev, time.Now().Add(-2*maxAge), time.Now().Add(-2*maxAge))
	l, err := Open(Config{Dir: dir, MaxAge: maxAge, FlushEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if names := rotatedNames(t, dir); len(names) != 0 {
		t.Fatalf("files past the retention kept at open: %v", names)
	}
	// Write a record every 50 ms for 2.5 retention periods; at every moment no file may hold a record written
	// more than maxAge (and the pass interval) ago.
	written := map[string]time.Time{} // evaluation id -> when appended
	start := time.Now()
	for i := 0; time.Since(start) < 5*maxAge/2; i++ {
		r := record(set, i+1)
		written[fmt.Sprintf("%016x", i+1)] = time.Now()
		l.Append(&r)
		time.Sleep(50 * time.Millisecond)
		if i%8 != 0 {
			continue
		}
		for _, n := range append(rotatedNames(t, dir), CurrentName) {
			for _, m := range readLinesLenient(filepath.Join(dir, n)) {
				at, ok := written[fmt.Sprint(m["evaluation_id"])]
				if age := time.Since(at); ok && age > maxAge+100*time.Millisecond {
					t.Fatalf("%s holds a record %v old, retention %v", n, age, maxAge)
				}
			}
		}
	}
	names := rotatedNames(t, dir)
	if len(names) < 2 {
		t.Fatalf("rotated files %v: the current file must rotate as it ages", names)
	}
	// The newest records are still there: the retention deletes by age, not everything.
	kept := 0
	for _, n := range append(names, CurrentName) {
		kept += len(readLinesLenient(filepath.Join(dir, n)))
	}
	if kept < 10 {
		t.Fatalf("%d records kept, want those of the last retention period", kept)
	}
	// Traffic stops: the last records go too, without a new record to trigger a rotation.
	time.Sleep(maxAge + 300*time.Millisecond)
	for _, n := range append(rotatedNames(t, dir), CurrentName) {
		if recs := readLinesLenient(filepath.Join(dir, n)); len(recs) != 0 {
			t.Fatalf("%s still holds %d records a retention period after the last one", n, len(recs))
		}
	}
}

func rotatedNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "decisions-") {
			names = append(names, e.Name())
		}
	}
	return names
}

// readLinesLenient reads the records of a file that may be deleted or rotated meanwhile.
func readLinesLenient(path string) []map[string]any {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []map[string]any
	for _, line := range strings.Split(string(data), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}
