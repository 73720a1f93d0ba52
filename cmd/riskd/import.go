package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/store"
)

// importConfig holds the flags of riskd import beyond the state and GeoIP flags it shares with serve.
type importConfig struct {
	format     string
	json       bool
	maxRejects int
}

// importSharedFlags are the serve flags that matter to an import: where the state is, how it is keyed, how long
// it keeps entries, and the GeoIP databases that locate addresses. import accepts every serve flag (so that one
// --config file and one RISKD_* environment serve both) but documents only these.
var importSharedFlags = []string{"data-dir", "redis", "hash-key", "hash-key-file", "redis-timeout", "redis-user", "redis-password-file",
	"redis-tls", "redis-ca", "redis-cert", "redis-key", "retention",
	"max-profiles", "velocity-keys", "geoip-city", "geoip-asn", "geoip-anonymous", "config", "log-level"}

// importFlushInterval is how often an import into a data dir commits, whatever serve's --flush-interval says.
// That flag bounds what a crash of the service loses; an interrupted import is run again instead. Each commit
// writes every profile changed since the last one, and history revisits its users all along the file, so a
// commit a second rewrote most profiles many times over (BenchmarkImport, 1 M rows: 199 k rows/s at 1 s, 236 k at
// 5 s; on a loaded machine 115 k and 220 k). Profiles
// not yet committed stay in memory, so the interval also bounds how far an import of more users than
// --max-profiles goes over that bound.
const importFlushInterval = 5 * time.Second

// importReportedRejects is how many rejected rows the report lists; all are counted.
const importReportedRejects = 20

// importSyncEvery is how many rows an import into Redis sends before it waits for them to be written: Redis
// state queues writes (bounded, dropping beyond) for the request path, and an import produces them far faster
// than its writer sends them (about 25 000 writes/s, two a row). Small enough that a wait stays well within the
// store's 2 s bound on it on a loaded machine; the writer, not the waits, sets the pace.
const importSyncEvery = 4096

// importFlags returns the flag set of riskd import: serve's own definitions (the same names, defaults and
// meaning, bound to c) plus the import's.
func importFlags(c *serveConfig, ic *importConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	serveFlags(c).VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	fs.StringVar(&ic.format, "format", "", "input format, ndjson or csv (default: from each file's extension: .ndjson, .jsonl, .csv, optionally .gz)")
	fs.BoolVar(&ic.json, "json", false, "print the report as one JSON object")
	fs.IntVar(&ic.maxRejects, "max-rejects", 1000, "stop at the first rejected row beyond this many (the rows before it stay imported); -1 = never stop")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprint(out, `usage: riskd import [flags] FILE...

Seeds user profiles from legacy login history (NDJSON or CSV with a header; gzip is detected; - reads stdin),
with the state flags of serve: --data-dir (stop riskd serve on that directory first) or --redis.
Columns: user, time (RFC 3339 or unix seconds/milliseconds) required; ip, user_agent, device_id, success
(true/false/1/0, default true), tenant optional.

flags:
`)
		show := append([]string{"format", "json", "max-rejects"}, importSharedFlags...)
		for _, name := range show {
			f := fs.Lookup(name)
			if f == nil {
				continue
			}
			fmt.Fprintf(out, "  --%s (default %q)\n    \t%s\n", f.Name, f.DefValue, f.Usage)
		}
		fmt.Fprint(out, "Every other flag of riskd serve is accepted and ignored, so that serve's --config file and RISKD_* environment work here too.\n"+
			"With --data-dir the import commits every 5s whatever --flush-interval says, and once more at the end.\n")
	}
	return fs
}

// importReport is what an import did. It is printed as text, or with --json as this object.
type importReport struct {
	Files          []string      `json:"files"`
	Read           int           `json:"rows_read"`
	Imported       int           `json:"imported"`
	SkippedOld     int           `json:"skipped_too_old"`
	SkippedFailed  int           `json:"skipped_failures"`
	Rejected       int           `json:"rejected"`
	Rejects        []importFault `json:"rejects"`
	DistinctUsers  int           `json:"distinct_users"`
	IgnoredColumns []string      `json:"ignored_columns,omitempty"`
	Seconds        float64       `json:"elapsed_seconds"`
	RowsPerSecond  float64       `json:"rows_per_second"`
	Geo            bool          `json:"geo"`
	Error          string        `json:"error,omitempty"`

	started bool // the state was opened: there is something to report
}

// importFault is one rejected row: which file and line, which field and why.
type importFault struct {
	File string `json:"file"`
	rowError
}

// importer applies parsed rows through the extractor's Learn, as /v1/events applies a login_succeeded.
type importer struct {
	x          *features.Extractor
	now        int64 // unix nanoseconds, fixed for the whole import
	cutoff     int64 // rows before it are beyond the retention
	maxRejects int
	users      map[uint64]struct{}
	rep        *importReport
	sync       func() error // nil, or wait until what was applied so far is written
	sinceSync  int
	err        error // why the import stopped early
	outcome    features.Outcome
}

// row handles one row of file; it returns false when the import must stop.
func (im *importer) row(file string, row *importRow, bad *rowError) bool {
	im.rep.Read++
	switch {
	case bad != nil:
		im.rep.Rejected++
		if len(im.rep.Rejects) < importReportedRejects {
			im.rep.Rejects = append(im.rep.Rejects, importFault{File: file, rowError: *bad})
		}
		if im.maxRejects >= 0 && im.rep.Rejected > im.maxRejects {
			im.err = fmt.Errorf("more than %d rejected rows (--max-rejects): stopped at %s:%d; the rows before it were imported", im.maxRejects, file, bad.Line)
			return false
		}
		return true
	case !row.success:
		// A legacy failure says nothing trustworthy about the user, and old failures are no velocity.
		im.rep.SkippedFailed++
		return true
	case row.at < im.cutoff:
		im.rep.SkippedOld++
		return true
	}
	im.outcome = features.Outcome{Type: features.LoginSucceeded, UserID: row.user, IP: row.ip, DeviceID: row.deviceID,
		UserAgent: row.userAgent, Tenant: row.tenant, Time: row.at}
	im.x.Learn(&im.outcome)
	im.outcome = features.Outcome{} // its strings alias the reader's buffer
	im.users[im.x.UserKey(row.user)] = struct{}{}
	im.rep.Imported++
	if im.sync != nil {
		if im.sinceSync++; im.sinceSync == importSyncEvery {
			im.sinceSync = 0
			if err := im.sync(); err != nil {
				im.err = fmt.Errorf("state: %w; the rows before %s were sent", err, file)
				return false
			}
		}
	}
	return true
}

// importFile reads one input into im. Errors are the file's (cannot be read, bad header); bad rows are not.
func (im *importer) importFile(ctx context.Context, path, format string, stdin io.Reader) error {
	if format == "" {
		if format = formatOf(path); format == "" {
			return fmt.Errorf("%w: %s: cannot tell the format from the name: give --format ndjson or --format csv", errUsage, path)
		}
	}
	in, closeIn, err := openInput(path, stdin)
	if err != nil {
		return err
	}
	defer closeIn()
	name := path
	if path == "-" {
		name = "stdin"
	}
	n := 0
	fn := func(_ int, row *importRow, bad *rowError) bool {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			im.err = fmt.Errorf("interrupted in %s; the rows before were imported", name)
			return false
		}
		return im.row(name, row, bad)
	}
	switch format {
	case formatNDJSON:
		err = readNDJSON(in, im.now, fn)
	case formatCSV:
		err = readCSV(in, im.now, func(ignored []string) {
			for _, c := range ignored {
				im.rep.IgnoredColumns = append(im.rep.IgnoredColumns, name+": "+c)
			}
		}, fn)
	default:
		return fmt.Errorf("%w: --format %q: want ndjson or csv", errUsage, format)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// runImport is `riskd import`: it seeds profiles from legacy login history into the state serve uses, keyed with
// the same hash key, then closes the state so that everything imported is durable.
func runImport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var c serveConfig
	var ic importConfig
	fs := importFlags(&c, &ic)
	fs.SetOutput(stderr)
	paths, err := parseWithPaths(fs, args)
	if err != nil {
		return err
	}
	if err := refuseSecretArguments(fs); err != nil {
		return err
	}
	if err := applyLayers(fs); err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("%w: riskd import [flags] FILE... (- for stdin; riskd import -h for flags)", errUsage)
	}
	if ic.format != "" && ic.format != formatNDJSON && ic.format != formatCSV {
		return fmt.Errorf("%w: --format %q: want ndjson or csv", errUsage, ic.format)
	}
	c.flushInterval = importFlushInterval
	if c.dataDir == "" && c.redis == "" {
		return fmt.Errorf("%w: give --data-dir or --redis: the import seeds the state riskd serve reads, and memory-only state would end with this command", errUsage)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep := &importReport{Files: paths, Rejects: []importFault{}}
	err = importAll(ctx, c, ic, paths, stdin, log, rep)
	if err != nil {
		rep.Error = err.Error()
	}
	// With --json a script always gets its object; a person gets the report once rows were read.
	switch {
	case ic.json:
		b, jerr := json.Marshal(rep)
		if jerr != nil {
			return jerr
		}
		stdout.Write(append(b, '\n'))
	case rep.started:
		rep.writeText(stdout)
	}
	return err
}

// importAll imports the files into the state the flags name, filling rep, and returns why the import failed or
// stopped early, if it did.
func importAll(ctx context.Context, c serveConfig, ic importConfig, paths []string, stdin io.Reader, log *slog.Logger, rep *importReport) error {
	start := time.Now() // the figures include opening the state and the final commit: what an operator waits for
	db, err := openGeo(c)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, s := range db.Status() {
		rep.Geo = rep.Geo || s.Loaded && s.Kind == geo.KindCity
	}
	reg := metrics.NewSet()
	key, st, err := openKeyedState(c, reg, log)
	if err != nil {
		return err
	}
	rep.started = true
	im := &importer{x: features.NewExtractor(features.NewHasher(key), st, db), now: start.UnixNano(),
		cutoff: start.Add(-c.retention).UnixNano(), maxRejects: ic.maxRejects, users: map[uint64]struct{}{}, rep: rep}
	if r, ok := st.(*store.Redis); ok {
		im.sync = r.Sync
	}
	var fileErr error
	for _, p := range paths {
		if fileErr = im.importFile(ctx, p, ic.format, stdin); fileErr != nil || im.err != nil {
			break
		}
	}
	// Close commits what was imported (bbolt) or sends it (Redis), also after an early stop: the rows before
	// the stop were applied whole, and importing them again only counts their logins twice.
	stErr := st.Close()
	if n := reg.GetOrCreateCounter("riskd_state_writes_dropped_total").Get(); n > 0 && stErr == nil {
		stErr = fmt.Errorf("%d writes to Redis were dropped (Redis out of reach): profiles are incomplete; run the import again", n)
	}
	rep.DistinctUsers = len(im.users)
	rep.Seconds = time.Since(start).Seconds()
	if rep.Seconds > 0 {
		rep.RowsPerSecond = float64(rep.Read) / rep.Seconds
	}
	err = errors.Join(fileErr, im.err, stErr)
	if err == nil && rep.Imported == 0 {
		err = errors.New("nothing was imported")
	}
	return err
}

// writeText prints the report for a person.
func (r *importReport) writeText(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "read %d rows from %s in %.1fs (%.0f rows/s)\n", r.Read, strings.Join(r.Files, ", "), r.Seconds, r.RowsPerSecond)
	fmt.Fprintf(&b, "imported %d logins of %d distinct users\n", r.Imported, r.DistinctUsers)
	fmt.Fprintf(&b, "skipped %d older than the retention, %d failed logins\n", r.SkippedOld, r.SkippedFailed)
	fmt.Fprintf(&b, "rejected %d rows\n", r.Rejected)
	for _, f := range r.Rejects {
		fmt.Fprintf(&b, "  %s:%d: ", f.File, f.Line)
		if f.Field != "" {
			fmt.Fprintf(&b, "%s: ", f.Field)
		}
		fmt.Fprintf(&b, "%s\n", f.Reason)
	}
	if r.Rejected > len(r.Rejects) {
		fmt.Fprintf(&b, "  … and %d more\n", r.Rejected-len(r.Rejects))
	}
	if len(r.IgnoredColumns) > 0 {
		fmt.Fprintf(&b, "ignored columns: %s\n", strings.Join(r.IgnoredColumns, ", "))
	}
	if !r.Geo {
		b.WriteString("note: no --geoip-city: devices were learned, places (countries, last login location) were not\n")
	}
	io.WriteString(w, b.String())
}
