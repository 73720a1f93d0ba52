package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Document is a kind of document a Plane serves, and how a version of it goes live.
type Document struct {
	Name string
	// Prepare builds what files describe and checks it as going live requires (a rule set compiles and its
	// tests pass), off the request path; label is what the content calls itself (the rule set's version).
	Prepare func(files []File) (prepared any, label string, err error)
	// Install makes prepared serve, atomically; it must not fail.
	Install func(prepared any)
}

// Config configures a Plane.
type Config struct {
	Store     Store
	Documents []Document
	// PollInterval is how often the newest version numbers are read (500 ms): a new version serves on every
	// instance within about this much, plus the time to prepare it.
	PollInterval time.Duration
	Metrics      *metrics.Set // nil: a set of its own
	Logger       *slog.Logger
	Now          func() time.Time

	// InstanceID names this instance in the heartbeats the instances sharing a store list (DefaultInstanceID).
	InstanceID string
	// RulesVersion returns the version of the rule set this instance serves, for its heartbeat; nil = the
	// label of the rules document's served version.
	RulesVersion func() string
	// HeartbeatInterval is how often a started plane publishes its heartbeat besides after applying a version
	// (5 s); a heartbeat expires after HeartbeatTTL (3 intervals).
	HeartbeatInterval, HeartbeatTTL time.Duration
}

// Plane commits and applies the versions of documents for one instance. Safe for concurrent use. The request
// path never calls it: what it installs, decisions read through atomic pointers.
type Plane struct {
	cfg   Config
	docs  []*docState
	names []string

	storeErr  atomic.Pointer[string]
	storeErrs *metrics.Counter

	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool
}

type docState struct {
	doc Document

	// mu serialises installing versions of this document; it is never held across store I/O or Prepare.
	mu       sync.Mutex
	served   uint64
	label    string
	failedAt uint64 // the version that could not be prepared; 0 when the newest serves
	failure  string
	infoName string // the name of the info gauge naming the served version

	latest   atomic.Uint64
	failures *metrics.Counter
}

// Change is what a change to a document asks of Plane.Change.
type Change struct {
	Author, Note string
	Action       string
	RollbackOf   uint64
	// Files are the new version's; Prepared what the document's Prepare made of them (the caller already
	// compiled and tested a rule set it was sent); Label what the content calls itself.
	Files    []File
	Prepared any
	Label    string
	// Seeds replace the version's file digests; nil carries the previous version's forward.
	Seeds map[string]string
}

// New returns a Plane over cfg.Store. It applies nothing until Sync or Start.
func New(cfg Config) (*Plane, error) {
	if cfg.Store == nil {
		return nil, errors.New("control: Store is required")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = DefaultInstanceID()
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 5 * time.Second
	}
	if cfg.HeartbeatTTL <= 0 {
		cfg.HeartbeatTTL = 3 * cfg.HeartbeatInterval
	}
	p := &Plane{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	p.storeErrs = cfg.Metrics.NewCounter("riskd_control_store_errors_total")
	for _, d := range cfg.Documents {
		if d.Prepare == nil || d.Install == nil || d.Name == "" {
			return nil, fmt.Errorf("control: document %q needs a name, Prepare and Install", d.Name)
		}
		ds := &docState{doc: d}
		label := `{document="` + d.Name + `"}`
		ds.failures = cfg.Metrics.NewCounter("riskd_control_apply_failures_total" + label)
		cfg.Metrics.NewGauge("riskd_control_latest_version"+label, func() float64 { return float64(ds.latest.Load()) })
		cfg.Metrics.NewGauge("riskd_control_apply_failed"+label, func() float64 {
			ds.mu.Lock()
			defer ds.mu.Unlock()
			if ds.failedAt != 0 {
				return 1
			}
			return 0
		})
		p.docs = append(p.docs, ds)
		p.names = append(p.names, d.Name)
	}
	return p, nil
}

// Documents returns the names of the documents p serves.
func (p *Plane) Documents() []string { return slices.Clone(p.names) }

func (p *Plane) doc(name string) (*docState, error) {
	for _, ds := range p.docs {
		if ds.doc.Name == name {
			return ds, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNoDocument, name)
}

// Start polls the store every PollInterval and applies new versions, and publishes this instance's heartbeat
// every HeartbeatInterval and as soon as it serves a new version, until Close. The heartbeat has a goroutine
// of its own: preparing a version (compiling, testing a rule set) must not let it expire.
func (p *Plane) Start() {
	p.started.Store(true)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		t := time.NewTicker(p.cfg.PollInterval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), 10*p.cfg.PollInterval+5*time.Second)
				p.Sync(ctx)
				cancel()
			}
		}
	}()
	go func() {
		defer wg.Done()
		p.heartbeat()
	}()
	go func() {
		wg.Wait()
		close(p.done)
	}()
}

// heartbeat publishes this instance's heartbeat at once, then every HeartbeatInterval and whenever the
// versions it serves change (looked at every PollInterval), until Close, when it removes it.
func (p *Plane) heartbeat() {
	t := time.NewTicker(p.cfg.PollInterval)
	defer t.Stop()
	beat := func() (time.Time, []uint64) {
		served := p.servedVersions()
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.HeartbeatInterval)
		defer cancel()
		p.Beat(ctx)
		return time.Now(), served
	}
	beaten, served := beat()
	for {
		select {
		case <-p.stop:
			p.leave()
			return
		case <-t.C:
			if time.Since(beaten) >= p.cfg.HeartbeatInterval || !slices.Equal(served, p.servedVersions()) {
				beaten, served = beat()
			}
		}
	}
}

// servedVersions are the versions this instance serves, by document.
func (p *Plane) servedVersions() []uint64 {
	out := make([]uint64, len(p.docs))
	for i, ds := range p.docs {
		ds.mu.Lock()
		out[i] = ds.served
		ds.mu.Unlock()
	}
	return out
}

// Close stops polling (when started) and closes the store.
func (p *Plane) Close() error {
	p.once.Do(func() { close(p.stop) })
	if p.started.Load() {
		<-p.done
	}
	return p.cfg.Store.Close()
}

// Sync reads the newest version of every document once and applies those this instance does not serve yet.
// A version that fails to prepare is not tried again until a newer one comes or Retry is called. It returns the
// store's error, or the first failure to apply.
func (p *Plane) Sync(ctx context.Context) error {
	heads, err := p.cfg.Store.Heads(ctx, p.names)
	if err != nil {
		p.storeFailed(err)
		return err
	}
	p.storeErr.Store(nil)
	var first error
	for i, ds := range p.docs {
		if err := p.apply(ctx, ds, heads[i]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (p *Plane) storeFailed(err error) {
	p.storeErrs.Inc()
	msg := err.Error()
	if old := p.storeErr.Swap(&msg); old == nil {
		p.cfg.Logger.Error("control store unreachable; every document keeps serving its version", "error", msg)
	}
}

// apply makes ds serve version head, unless it does already or head failed before.
func (p *Plane) apply(ctx context.Context, ds *docState, head uint64) error {
	ds.latest.Store(head)
	ds.mu.Lock()
	served, failedAt := ds.served, ds.failedAt
	ds.mu.Unlock()
	if head == 0 || head == served || head == failedAt {
		return nil
	}
	v, err := p.cfg.Store.Get(ctx, ds.doc.Name, head)
	if err != nil {
		p.storeFailed(err)
		return err
	}
	prepared, label, err := ds.doc.Prepare(v.Files)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.served != served {
		return nil // a change made here installed a version meanwhile; the next pass looks again
	}
	if errors.Is(err, ErrBusy) {
		return err // not a verdict on the version: the next pass tries it again
	}
	if err != nil {
		ds.failedAt, ds.failure = head, err.Error()
		ds.failures.Inc()
		p.cfg.Logger.Error("control: a new version cannot be applied; the served one keeps serving", "document", ds.doc.Name,
			"version", head, "serving", served, "error", err.Error())
		return fmt.Errorf("%s version %d: %w", ds.doc.Name, head, err)
	}
	p.install(ds, head, prepared, label)
	p.cfg.Logger.Info("control: applied a new version", "document", ds.doc.Name, "version", head, "label", label,
		"author", v.Author, "action", v.Action)
	return nil
}

// install makes version n serve; ds.mu is held.
func (p *Plane) install(ds *docState, n uint64, prepared any, label string) {
	ds.doc.Install(prepared)
	ds.served, ds.label, ds.failedAt, ds.failure = n, label, 0, ""
	if ds.infoName != "" {
		p.cfg.Metrics.UnregisterMetric(ds.infoName)
	}
	ds.infoName = `riskd_control_version{document="` + ds.doc.Name + `",version="` + strconv.FormatUint(n, 10) + `"}`
	p.cfg.Metrics.GetOrCreateGauge(ds.infoName, func() float64 { return 1 })
}

// Retry forgets the versions that failed to prepare, so the next Sync tries them again: after what they
// depend on changed (the GeoIP databases a rule set's tests run over).
func (p *Plane) Retry() {
	for _, ds := range p.docs {
		ds.mu.Lock()
		ds.failedAt = 0
		ds.mu.Unlock()
	}
}

// maxConflicts bounds the retries of a change that keeps losing the race for the next version number.
const maxConflicts = 8

// Change commits a new version of doc: build is called with the newest version (nil when there is none) and
// returns the change; the version is appended if no other was meanwhile, else build runs again over the newer
// one. The new version is installed here at once; other instances install it at their next poll.
func (p *Plane) Change(ctx context.Context, doc string, build func(cur *Version) (Change, error)) (Version, error) {
	ds, err := p.doc(doc)
	if err != nil {
		return Version{}, err
	}
	for range maxConflicts {
		heads, err := p.cfg.Store.Heads(ctx, []string{doc})
		if err != nil {
			p.storeFailed(err)
			return Version{}, err
		}
		var cur *Version
		if heads[0] > 0 {
			v, err := p.cfg.Store.Get(ctx, doc, heads[0])
			if err != nil {
				p.storeFailed(err)
				return Version{}, err
			}
			cur = &v
		}
		c, err := build(cur)
		if err != nil {
			return Version{}, err
		}
		v := Version{Document: doc, Author: c.Author, Time: p.cfg.Now().UTC(), Note: c.Note, Action: c.Action,
			RollbackOf: c.RollbackOf, Label: c.Label, Seeds: c.Seeds, Files: c.Files}
		if v.Seeds == nil && cur != nil {
			v.Seeds = cur.Seeds
		}
		if v.Files == nil {
			v.Files = []File{}
		}
		err = p.cfg.Store.Append(ctx, heads[0], v)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			p.storeFailed(err)
			return Version{}, err
		}
		v.Number = heads[0] + 1
		ds.latest.Store(v.Number)
		ds.mu.Lock()
		if v.Number > ds.served {
			p.install(ds, v.Number, c.Prepared, c.Label)
		}
		ds.mu.Unlock()
		p.cfg.Logger.Info("control: committed a new version", "document", doc, "version", v.Number, "label", v.Label,
			"author", v.Author, "action", v.Action, "note", v.Note)
		return v, nil
	}
	return Version{}, ErrConflict
}

// Rollback commits the files of version n of doc again, as a new version (ActionRollback), once they pass the
// document's Prepare.
func (p *Plane) Rollback(ctx context.Context, doc string, n uint64, author, note string) (Version, error) {
	ds, err := p.doc(doc)
	if err != nil {
		return Version{}, err
	}
	old, err := p.Get(ctx, doc, n)
	if err != nil {
		return Version{}, err
	}
	prepared, label, err := ds.doc.Prepare(old.Files)
	if err != nil {
		return Version{}, fmt.Errorf("%w: version %d: %w", ErrRefused, n, err)
	}
	return p.Change(ctx, doc, func(*Version) (Change, error) {
		return Change{Author: author, Note: note, Action: ActionRollback, RollbackOf: n, Files: old.Files,
			Prepared: prepared, Label: label}, nil
	})
}

// Get returns version n of doc.
func (p *Plane) Get(ctx context.Context, doc string, n uint64) (Version, error) {
	if _, err := p.doc(doc); err != nil {
		return Version{}, err
	}
	v, err := p.cfg.Store.Get(ctx, doc, n)
	if err != nil && !errors.Is(err, ErrNoVersion) {
		p.storeFailed(err)
	}
	return v, err
}

// Latest returns the newest version of doc, or ErrNoVersion.
func (p *Plane) Latest(ctx context.Context, doc string) (Version, error) {
	if _, err := p.doc(doc); err != nil {
		return Version{}, err
	}
	heads, err := p.cfg.Store.Heads(ctx, []string{doc})
	if err != nil {
		p.storeFailed(err)
		return Version{}, err
	}
	if heads[0] == 0 {
		return Version{}, ErrNoVersion
	}
	return p.Get(ctx, doc, heads[0])
}

// History returns up to limit versions of doc, newest first.
func (p *Plane) History(ctx context.Context, doc string, limit int) ([]Version, error) {
	if _, err := p.doc(doc); err != nil {
		return nil, err
	}
	heads, err := p.cfg.Store.Heads(ctx, []string{doc})
	if err != nil {
		p.storeFailed(err)
		return nil, err
	}
	out := []Version{}
	for n := heads[0]; n > 0 && len(out) < limit && heads[0]-n < KeepVersions; n-- {
		v, err := p.cfg.Store.Get(ctx, doc, n)
		if errors.Is(err, ErrNoVersion) {
			continue
		}
		if err != nil {
			p.storeFailed(err)
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Status is what one document's instance serves, for /readyz and the console.
type Status struct {
	Document string `json:"document"`
	Serving  uint64 `json:"serving"`         // the version this instance serves (0: none from the control plane)
	Label    string `json:"label,omitempty"` // what it calls itself
	Latest   uint64 `json:"latest"`          // the newest version this instance has seen
	Error    string `json:"error,omitempty"` // why Latest does not serve here
}

// Status returns every document's status, and the store's error when the last read of it failed.
func (p *Plane) Status() (docs []Status, storeErr string) {
	for _, ds := range p.docs {
		ds.mu.Lock()
		st := Status{Document: ds.doc.Name, Serving: ds.served, Label: ds.label, Latest: ds.latest.Load()}
		if ds.failedAt != 0 {
			st.Error = fmt.Sprintf("version %d cannot be applied: %s", ds.failedAt, ds.failure)
		}
		ds.mu.Unlock()
		if st.Latest < st.Serving {
			st.Latest = st.Serving
		}
		docs = append(docs, st)
	}
	if e := p.storeErr.Load(); e != nil {
		storeErr = *e
	}
	return docs, storeErr
}

// Prepare runs doc's Prepare over files: what a caller does before committing files it did not check itself
// (a rule file read from disk).
func (p *Plane) Prepare(doc string, files []File) (prepared any, label string, err error) {
	ds, err := p.doc(doc)
	if err != nil {
		return nil, "", err
	}
	return ds.doc.Prepare(files)
}
