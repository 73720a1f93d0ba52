package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/store"
	"github.com/riskd/riskd/store/storetest"
)

// importInto runs riskd import with the test GeoIP databases and args, reading stdin for "-", and returns the
// JSON report and the command's error.
func importInto(t *testing.T, stdin io.Reader, args ...string) (importReport, error) {
	t.Helper()
	city, asn, anon := testenv.GeoIP(t)
	var out, errb bytes.Buffer
	args = append([]string{"--json", "--log-level", "warn", "--geoip-city", city, "--geoip-asn", asn, "--geoip-anonymous", anon}, args...)
	err := runImport(context.Background(), args, stdin, &out, &errb)
	var rep importReport
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		t.Fatalf("report %q (stderr %q): %v", out.String(), errb.String(), jerr)
	}
	return rep, err
}

// profileIn reads what the data dir holds about user, keyed as serve keys it (the dir's hash key).
func profileIn(t *testing.T, dir, user string) (store.Profile, bool) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	key, err := dataDirKey(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenEmbedded(store.EmbeddedConfig{Dir: dir, KeyCheck: keyCheck(key), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	x := features.NewExtractor(features.NewHasher(key), st, nil)
	var ud store.UserData
	if _, err := x.ExportUser(user, time.Now().UnixNano(), &ud); err != nil {
		t.Fatal(err)
	}
	return ud.Profile, ud.Profile.Logins > 0
}

// countries lists a profile's countries, for comparisons.
func countries(p store.Profile) string {
	var cs []string
	for _, c := range p.Countries[:p.NumCountries] {
		cs = append(cs, string(c.Code[:]))
	}
	return strings.Join(cs, ",")
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func unix(d time.Duration) string { return strconv.FormatInt(time.Now().Add(-d).Unix(), 10) }

// TestImportCSVAndNDJSON imports the same history as CSV and as NDJSON, with RFC 3339, unix-second and
// unix-millisecond times, a failed login and extra legacy columns: both teach the same profiles and report the
// same counts.
func TestImportCSVAndNDJSON(t *testing.T) {
	dir := t.TempDir()
	ms := strconv.FormatInt(time.Now().Add(-26*time.Hour).UnixMilli(), 10)
	csvPath := writeFile(t, filepath.Join(dir, "history.csv"), "User,Time,IP,device_id,user_agent,success,legacy_id,email\n"+
		"ana,"+ago(72*time.Hour)+","+ipMilton+",ana-laptop,Mozilla/5.0,true,17,ana@example.com\n"+
		"ana,"+unix(48*time.Hour)+","+ipChangchun+",ana-phone,,1,17,ana@example.com\n"+
		"ana,"+unix(30*time.Hour)+","+ipStuffer+",evil-box,,false,17,ana@example.com\n"+
		"bo,"+ms+","+ipMilton+",bo-laptop,,,18,bo@example.com\n")
	ndPath := writeFile(t, filepath.Join(dir, "history.ndjson"), `{"user":"ana","time":"`+ago(72*time.Hour)+`","ip":"`+ipMilton+`","device_id":"ana-laptop","user_agent":"Mozilla/5.0","success":true}
{"user":"ana","time":`+unix(48*time.Hour)+`,"ip":"`+ipChangchun+`","device_id":"ana-phone","success":1}

{"user":"ana","time":"`+unix(30*time.Hour)+`","ip":"`+ipStuffer+`","device_id":"evil-box","success":false}
{"user":"bo","time":`+ms+`,"ip":"`+ipMilton+`","device_id":"bo-laptop","tenant":null}
`)
	var profiles [2]string
	for i, path := range []string{csvPath, ndPath} {
		data := filepath.Join(dir, fmt.Sprintf("data-%d", i))
		rep, err := importInto(t, nil, "--data-dir", data, path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if rep.Read != 4 || rep.Imported != 3 || rep.SkippedFailed != 1 || rep.Rejected != 0 || rep.DistinctUsers != 2 || !rep.Geo {
			t.Fatalf("%s: report %+v", path, rep)
		}
		if want := []string(nil); i == 0 {
			want = []string{"history.csv: legacy_id", "history.csv: email"}
			if strings.Join(rep.IgnoredColumns, "|") != csvPath[:len(csvPath)-len("history.csv")]+want[0]+"|"+csvPath[:len(csvPath)-len("history.csv")]+want[1] {
				t.Fatalf("ignored columns %q", rep.IgnoredColumns)
			}
		}
		ana, ok := profileIn(t, data, "ana")
		if !ok || ana.Logins != 2 || ana.NumDevices != 2 || countries(ana) != "US,CN" {
			t.Fatalf("%s: ana's profile: logins %d devices %d countries %q", path, ana.Logins, ana.NumDevices, countries(ana))
		}
		// The last login is the latest one, not the last row read, and the failure taught nothing.
		if ana.Last.Country != [2]byte{'C', 'N'} {
			t.Fatalf("%s: last login in %q, want CN", path, ana.Last.Country[:])
		}
		bo, ok := profileIn(t, data, "bo")
		if !ok || bo.Logins != 1 || time.Since(time.Unix(bo.Last.At, 0)).Round(time.Hour) != 26*time.Hour {
			t.Fatalf("%s: bo's profile %+v (milliseconds read as seconds?)", path, bo.Last)
		}
		profiles[i] = fmt.Sprintf("%d %d %s %d", ana.Logins, ana.NumDevices, countries(ana), bo.Logins)
	}
	if profiles[0] != profiles[1] {
		t.Fatalf("CSV taught %q, NDJSON %q", profiles[0], profiles[1])
	}
}

// TestImportGzipAndStdin: gzip is recognised by its content (a .gz file, and stdin), and - reads stdin with
// --format.
func TestImportGzipAndStdin(t *testing.T) {
	dir := t.TempDir()
	csvText := "user,time,ip,device_id\ncy," + ago(5*time.Hour) + "," + ipMilton + ",cy-laptop\n"
	ndText := `{"user":"dee","time":"` + ago(4*time.Hour) + `","ip":"` + ipChangchun + `","device_id":"dee-phone"}` + "\n"
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.Bytes()
	}
	gzPath := filepath.Join(dir, "history.csv.gz")
	if err := os.WriteFile(gzPath, gz(csvText), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	for _, c := range []struct {
		name  string
		stdin io.Reader
		args  []string
	}{
		{"gzip file", nil, []string{gzPath}},
		{"stdin", strings.NewReader(ndText), []string{"--format", "ndjson", "-"}},
		{"gzip stdin", bytes.NewReader(gz(ndText)), []string{"-", "--format", "ndjson"}}, // flags after the file too
	} {
		rep, err := importInto(t, c.stdin, append([]string{"--data-dir", data}, c.args...)...)
		if err != nil || rep.Imported != 1 {
			t.Fatalf("%s: %v %+v", c.name, err, rep)
		}
	}
	if p, ok := profileIn(t, data, "cy"); !ok || countries(p) != "US" {
		t.Fatalf("cy from the gzip file: %v %q", ok, countries(p))
	}
	if p, ok := profileIn(t, data, "dee"); !ok || p.Logins != 2 || countries(p) != "CN" {
		t.Fatalf("dee from stdin twice: logins %d %q", p.Logins, countries(p))
	}
	// A file named .gz that is not gzip is refused before anything is read.
	notGz := writeFile(t, filepath.Join(dir, "plain.csv.gz"), csvText)
	if _, err := importInto(t, nil, "--data-dir", data, notGz); err == nil || !strings.Contains(err.Error(), "not gzip") {
		t.Fatalf("plain text named .gz: %v", err)
	}
}

// TestImportRejectsBadRows: every bad row is refused whole, with its line and the field at fault, and counted;
// the good rows around it are imported.
func TestImportRejectsBadRows(t *testing.T) {
	dir := t.TempDir()
	ok := ago(3 * time.Hour)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	csvPath := writeFile(t, filepath.Join(dir, "bad.csv"), "user,time,ip,device_id,success,tenant\n"+
		"good-1,"+ok+","+ipMilton+",d1,true,\n"+ // line 2
		"bad-ip,"+ok+",300.1.1.1,d2,true,\n"+ // 3
		"bad-time,yesterday,"+ipMilton+",d3,true,\n"+ // 4
		"bad-success,"+ok+","+ipMilton+",d4,yes,\n"+ // 5
		"bad-future,"+future+","+ipMilton+",d5,true,\n"+ // 6
		",\"\"\n"+ // 7: a missing cell
		","+ok+","+ipMilton+",d6,true,\n"+ // 8
		"bad-tenant,"+ok+","+ipMilton+",d7,true,brand a\n"+ // 9
		"\"multi\nline\","+ok+","+ipMilton+",d8,true,\n"+ // 10-11: a quoted newline is a bad user id, and counts two lines
		"good-2,"+ok+","+ipMilton+",d9,true,\n") // 12
	ndPath := writeFile(t, filepath.Join(dir, "bad.ndjson"), `{"user":"good-1","time":"`+ok+`","ip":"`+ipMilton+`"}
{"user":"bad-ip","time":"`+ok+`","ip":"300.1.1.1","device_id":"d2"}
{"user":"bad-field","time":"`+ok+`","device":"d3"}
{"user":"bad-json","time":"`+ok+`"
{"user":"bad-type","time":true}
{"user":"bad-twice","time":"`+ok+`","user":"someone-else"}
["an array"]
{"user":"bad-ms","time":1e3}
{"user":"good-2","time":"`+ok+`","success":"1"}
{"user":"bad-long","time":"`+ok+`","user_agent":"`+strings.Repeat("x", importMaxLine)+`"}
`)
	for _, c := range []struct {
		path string
		want []string // file:line: field: reason fragment
	}{
		{csvPath, []string{"bad.csv:3: ip: \"300.1.1.1\" is not an IPv4 or IPv6 address", "bad.csv:4: time: \"yesterday\" is neither RFC 3339",
			"bad.csv:5: success: \"yes\" is not true, false, 1 or 0", "bad.csv:6: time: " + future + " is in the future",
			"bad.csv:7: : 2 cells, the header has 6", "bad.csv:8: user: missing", "bad.csv:9: tenant: may hold only",
			"bad.csv:10: user: contains control characters"}},
		{ndPath, []string{"bad.ndjson:2: ip: \"300.1.1.1\"", "bad.ndjson:3: : unknown field \"device\"", "bad.ndjson:4: : not valid JSON",
			"bad.ndjson:5: time: must be a string (RFC 3339) or a number", "bad.ndjson:6: user: given twice", "bad.ndjson:7: : not a JSON object",
			"bad.ndjson:8: time: must be a string (RFC 3339) or a number", "bad.ndjson:10: : line longer than 262144 bytes"}},
	} {
		data := filepath.Join(dir, "data-"+filepath.Ext(c.path)[1:])
		rep, err := importInto(t, nil, "--data-dir", data, c.path)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		var got []string
		for _, f := range rep.Rejects {
			got = append(got, fmt.Sprintf("%s:%d: %s: %s", filepath.Base(f.File), f.Line, f.Field, f.Reason))
		}
		if rep.Imported != 2 || rep.Rejected != len(c.want) || len(got) != len(c.want) {
			t.Fatalf("%s: imported %d, rejected %d:\n%s", c.path, rep.Imported, rep.Rejected, strings.Join(got, "\n"))
		}
		for i, w := range c.want {
			if !strings.HasPrefix(got[i], w) {
				t.Errorf("%s: reject %d is %q, want it to start %q", c.path, i, got[i], w)
			}
		}
		// Nothing of a rejected row was applied: its user has no profile, though its other cells were fine.
		for _, u := range []string{"bad-ip", "bad-success", "bad-future", "bad-tenant", "bad-field", "bad-twice", "someone-else", "bad-long"} {
			if _, has := profileIn(t, data, u); has {
				t.Errorf("%s: the rejected row of %s was applied", c.path, u)
			}
		}
		for _, u := range []string{"good-1", "good-2"} {
			if _, has := profileIn(t, data, u); !has {
				t.Errorf("%s: %s was not imported", c.path, u)
			}
		}
	}
}

// TestImportStopsAndFails: --max-rejects stops early, and the command fails when nothing was imported, when a
// file cannot be read or has no usable header, and on usage errors.
func TestImportStopsAndFails(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ok := ago(time.Hour)
	bad := writeFile(t, filepath.Join(dir, "bad.ndjson"), `{"user":"a","time":"`+ok+`"}
{"user":"b","time":"x"}
{"user":"c","time":"y"}
{"user":"d","time":"`+ok+`"}
{"user":"e","time":"z"}
`)
	rep, err := importInto(t, nil, "--data-dir", data, "--max-rejects", "1", bad)
	if err == nil || !strings.Contains(err.Error(), "stopped at "+bad+":3") || rep.Read != 3 || rep.Imported != 1 || rep.Error == "" {
		t.Fatalf("--max-rejects 1: %v %+v", err, rep)
	}
	if _, has := profileIn(t, data, "a"); !has {
		t.Fatal("the row before the stop was not made durable")
	}
	if rep, err := importInto(t, nil, "--data-dir", data, "--max-rejects", "-1", bad); err != nil || rep.Rejected != 3 || rep.Imported != 2 {
		t.Fatalf("--max-rejects -1: %v %+v", err, rep)
	}

	failures := writeFile(t, filepath.Join(dir, "failures.csv"), "user,time,success\na,"+ok+",false\n")
	noHeader := writeFile(t, filepath.Join(dir, "noheader.csv"), "a,"+ok+"\n")
	var out, errb bytes.Buffer
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{failures}, 1, "nothing was imported"},
		{[]string{filepath.Join(dir, "missing.csv")}, 1, "no such file"},
		{[]string{noHeader}, 1, "needs the columns user and time"},
		{[]string{filepath.Join(dir, "history.txt")}, 2, "--format"},
		{[]string{"--format", "xml", failures}, 2, "want ndjson or csv"},
		{[]string{}, 2, "riskd import [flags] FILE"},
	} {
		out.Reset()
		errb.Reset()
		code := run(context.Background(), append([]string{"import", "--log-level", "warn", "--data-dir", data}, c.args...), &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("import %q: exit %d, want %d with %q:\n%s%s", c.args, code, c.code, c.want, out.String(), errb.String())
		}
	}
	// Memory-only state would end with the command: refused before reading anything.
	if code := run(context.Background(), []string{"import", failures}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--data-dir or --redis") {
		t.Fatalf("without state: exit %d: %s", code, errb.String())
	}
}

// TestImportRetention: rows older than --retention are skipped and counted (the state would drop them at once).
func TestImportRetention(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "h.csv"), "user,time,device_id\n"+
		"old,"+ago(72*time.Hour)+",d-old\n"+
		"recent,"+ago(24*time.Hour)+",d-recent\n"+
		"both,"+unix(72*time.Hour)+",d-old\n"+
		"both,"+unix(24*time.Hour)+",d-recent\n")
	data := filepath.Join(dir, "data")
	rep, err := importInto(t, nil, "--data-dir", data, "--retention", "48h", path)
	if err != nil || rep.Read != 4 || rep.Imported != 2 || rep.SkippedOld != 2 || rep.DistinctUsers != 2 {
		t.Fatalf("%v %+v", err, rep)
	}
	if _, has := profileIn(t, data, "old"); has {
		t.Fatal("a login older than the retention was imported")
	}
	if p, has := profileIn(t, data, "both"); !has || p.NumDevices != 1 {
		t.Fatalf("both: %v, %d devices, want only the recent one", has, p.NumDevices)
	}
}

// TestImportTimeFormats reads each accepted time format to the same instant, and refuses the others naming the
// time field.
func TestImportTimeFormats(t *testing.T) {
	now := time.Now().UnixNano()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, s := range []string{"2026-03-04T05:06:07Z", "2026-03-04T06:06:07+01:00", "2026-03-04T05:06:07.000Z",
		strconv.FormatInt(at.Unix(), 10), strconv.FormatInt(at.UnixMilli(), 10)} {
		var r importRow
		if e := parseCSVRow([]int{colUser, colTime}, []string{"u", s}, now, &r); e != nil || r.at != at.UnixNano() {
			t.Errorf("%q: %v, at %v", s, e, time.Unix(0, r.at).UTC())
		}
	}
	var p fastjson.Parser
	var r importRow
	if e := parseNDJSONRow(&p, []byte(`{"user":"u","time":`+strconv.FormatInt(at.UnixMilli(), 10)+`}`), now, &r); e != nil || r.at != at.UnixNano() {
		t.Errorf("JSON number of milliseconds: %v, at %v", e, time.Unix(0, r.at).UTC())
	}
	for _, s := range []string{"2026-03-04", "2026-03-04 05:06:07", "04/03/2026", "-1700000000", "1700000000.5", "0",
		"999999999999999999", "9999-01-01T00:00:00Z", "1969-12-31T23:59:59Z"} {
		var r importRow
		if e := parseCSVRow([]int{colUser, colTime}, []string{"u", s}, now, &r); e == nil || e.Field != "time" {
			t.Errorf("%q: accepted (%v) at %v", s, e, time.Unix(0, r.at).UTC())
		}
	}
}

// importRules steps up a user riskd has never seen, as a deployment that fears account takeover might: the
// very rule that makes a cut-over without history step every migrated user up.
const importRules = `version: import-test
thresholds: {step_up: 40, deny: 80}
rules:
  - {id: unknown_user, when: new_user, score: 40, events: [login]}
  - {id: new_device, when: new_device, score: 25, events: [login]}
  - {id: new_country, when: new_country, score: 20, events: [login]}
`

// TestImportThenServeKnowsTheUser imports history into a data dir, then serves it with the real binary over
// loopback: the imported user's familiar login is allowed, while a user not imported, and the imported user on a
// new device in a new country, are stepped up. It fails if import and serve key users differently.
func TestImportThenServeKnowsTheUser(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	history := writeFile(t, filepath.Join(dir, "legacy.csv"), "user,time,ip,device_id,user_agent,success\n"+
		"migrated,"+ago(30*24*time.Hour)+","+ipMilton+",migrated-laptop,Mozilla/5.0,true\n"+
		"migrated,"+ago(2*24*time.Hour)+","+ipMilton+",migrated-laptop,Mozilla/5.0,true\n"+
		"migrated,"+ago(24*time.Hour)+","+ipStuffer+",migrated-laptop,,false\n")
	if rep, err := importInto(t, nil, "--data-dir", data, history); err != nil || rep.Imported != 2 {
		t.Fatalf("import: %v %+v", err, rep)
	}
	rulesPath := writeFile(t, filepath.Join(dir, "rules.yaml"), importRules)
	p := startProcess(t, "--data-dir", data, "--rules", rulesPath)
	// One riskd per data dir: an import while serve holds it is refused, not merged into a state serve would
	// overwrite.
	if _, err := importInto(t, nil, "--data-dir", data, history); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("import into a served data dir: %v", err)
	}
	if v := p.verdict(t, loginBody("migrated", ipMilton, "migrated-laptop", "true", "")); v != "allow 0 []" {
		t.Fatalf("the migrated user's familiar login: %s, want allow", v)
	}
	if v := p.verdict(t, loginBody("never-migrated", ipMilton, "laptop", "true", "")); v != "step_up 40 [unknown_user]" {
		t.Fatalf("a user not imported: %s", v)
	}
	if v := p.verdict(t, loginBody("migrated", ipChangchun, "stolen-phone", "", "")); v != "step_up 45 [new_device new_country]" {
		t.Fatalf("the migrated user elsewhere: %s", v)
	}
	status, m := p.call(t, http.MethodPost, "/v1/decide?explain=1", loginBody("migrated", ipMilton, "migrated-laptop", "", ""))
	if status != 200 {
		t.Fatalf("explain: %d %v", status, m)
	}
	// Two imported logins (the failure taught nothing) and the allowed one above.
	if v, _ := m["features"].(map[string]any); v["user_logins"] != 3.0 || v["known_devices"] != 1.0 {
		t.Fatalf("the served profile is not the imported one: %v", m["features"])
	}
	p.stop(t)
}

// TestImportRedis imports more rows than Redis state queues (65 536 writes) into a real redis-server: the
// import paces itself, nothing is dropped, and another instance keyed with the same --hash-key reads the
// profiles.
func TestImportRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 40 000 rows into redis")
	}
	r := storetest.StartRedis(t)
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "h.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	const rows = 40_000 // a success counts and changes a profile: two writes a row
	if err := writeHistory(f, formatNDJSON, rows, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	const key = "import-test-key-0123456789abcdefghij"
	rep, err := importInto(t, nil, "--redis", r.Addr, "--hash-key-file", hashKeyFileFor(t, key), f.Name())
	if err != nil || rep.Imported != rows*9/10 || rep.Rejected != 0 {
		t.Fatalf("%v %+v", err, rep)
	}
	t.Logf("%d rows into redis in %.2fs: %.0f rows/s", rep.Read, rep.Seconds, rep.RowsPerSecond)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.OpenRedis(store.RedisConfig{Addrs: []string{r.Addr}, KeyCheck: keyCheck([]byte(key)), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	x := features.NewExtractor(features.NewHasher([]byte(key)), st, nil)
	if keys := r.Keys(t, "riskd:{u:*}:p"); len(keys) != rep.DistinctUsers {
		t.Fatalf("%d profiles in redis, %d users imported", len(keys), rep.DistinctUsers)
	}
	// writeHistory's rows 1, 2 and 3 are successes, of users (i*7919) % (rows/5).
	for _, i := range []int{1, 2, 3} {
		u := fmt.Sprintf("user-%d", i*7919%(rows/5))
		var ud store.UserData
		p := &ud.Profile
		if has, err := x.ExportUser(u, time.Now().UnixNano(), &ud); err != nil || !has || p.Logins == 0 || p.NumDevices == 0 {
			t.Fatalf("%s in redis: %v %v logins %d devices %d", u, has, err, p.Logins, p.NumDevices)
		}
	}
}

// FuzzImportRow feeds arbitrary rows to both parsers: they never panic, a refused row names a known field (or
// none) and a reason, and an accepted row holds what the API would accept.
func FuzzImportRow(f *testing.F) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	f.Add(`{"user":"ana","time":"2026-05-01T10:00:00Z","ip":"216.160.83.56","device_id":"d","success":true,"tenant":"brand-a"}`)
	f.Add(`{"user":"ana","time":1746093600000,"success":0}`)
	f.Add(`{"user":"ana","time":"1746093600","user_agent":"Mozilla/5.0"}`)
	f.Add(`ana,2026-05-01T10:00:00+02:00,::ffff:1.2.3.4,Mozilla/5.0,dev,1,brand-a`)
	f.Add(`"an""a",1746093600,fe80::1%eth0,"x,y",,FALSE,`)
	p := &fastjson.Parser{}
	f.Fuzz(func(t *testing.T, line string) {
		check := func(kind string, r *importRow, e *rowError) {
			if e != nil {
				if e.Reason == "" || e.Field != "" && colIndex(e.Field) < 0 {
					t.Fatalf("%s: bad rejection %+v", kind, e)
				}
				return
			}
			if r.user == "" || len(r.user) > importMaxID || r.at == 0 || r.at > now+int64(importMaxSkew) ||
				r.tenant == "" || !validTenantName(r.tenant) || r.ip.Is4In6() || r.ip.Zone() != "" {
				t.Fatalf("%s: accepted a bad row %+v", kind, r)
			}
			for _, s := range []string{r.user, r.deviceID, r.userAgent} {
				if e := checkString(new(string), s, colUser, importMaxUserAgent); e != nil {
					t.Fatalf("%s: accepted %q: %v", kind, s, e)
				}
			}
		}
		var r importRow
		check("ndjson", &r, parseNDJSONRow(p, []byte(line), now, &r))
		err := readCSV(strings.NewReader("user,time,ip,user_agent,device_id,success,tenant\n"+line), now, func([]string) {},
			func(_ int, row *importRow, bad *rowError) bool {
				check("csv", row, bad)
				return true
			})
		if err != nil && !strings.Contains(err.Error(), "parse error") {
			t.Fatalf("csv: %v", err)
		}
	})
}
