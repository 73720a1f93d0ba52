package main

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/features/useragent"
	"github.com/riskd/riskd/internal/jsonenc"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/ruletest"
	"github.com/riskd/riskd/store"
)

// knownBadList is the name of the list of known-bad addresses; rules test it with in_list("blocklist"), and
// its file is blocklist.ip.txt as `riskd serve --lists DIR` names list files.
const knownBadList = "blocklist"

// simClock is the replay's clock: the time of the event being replayed, so the engine checks timestamps and
// runs windows and profiles on simulated time.
type simClock struct{ now int64 }

func (c *simClock) Now() time.Time { return time.Unix(0, c.now) }

// assemble builds the engine as `riskd serve` does without --data-dir or --redis: a keyed hasher, in-memory
// state with serve's default bounds, the GeoIP databases, the user-agent parser, the lists of listsDir and the
// rule set, whose tests must pass over these databases (serve refuses a set whose tests fail). User agents are
// parsed on first sight instead of in the background, as `riskd check` does, so that a run's answers do not
// depend on timing.
func assemble(set *rules.Set, db *geo.DB, listsDir string, clock *simClock) (*engine.Engine, error) {
	if set.Source != rules.DefaultSource {
		if err := ruletest.Run(set, ruletest.Options{Geo: db}).Err(); err != nil {
			return nil, err
		}
	}
	hasher := features.NewHasher([]byte("riskd scenario evaluation"))
	st := store.NewBoundedMemory(1<<20, store.DefaultProfiles)
	x := features.NewExtractor(hasher, st, db)
	// serve's cache (useragent.DefaultCacheSize slots, direct-mapped) lets two user agents that share a slot
	// evict each other; synchronously parsed, each eviction costs a millisecond of regexes. A table this size
	// leaves the few hundred user agents here almost no collision; the answers are the same.
	x.SetUserAgents(useragent.New(1 << 20))
	reg := lists.NewRegistry(lists.Hashers{User: hasher.User, Device: hasher.Device}, clock.Now)
	if err := loadLists(reg, listsDir); err != nil {
		return nil, err
	}
	return engine.New(engine.Config{Extractor: x, Rules: set, Lists: reg, Now: clock.Now})
}

// writeList writes the known-bad addresses as a list file of dir.
func writeList(dir string, addrs []netip.Addr) error {
	var b strings.Builder
	b.WriteString("# Known-bad addresses of the scenario evaluation (bench/eval), one per line as threat feeds publish them.\n")
	for _, a := range addrs {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return os.WriteFile(filepath.Join(dir, knownBadList+".ip.txt"), []byte(b.String()), 0o644)
}

// loadLists loads the NAME.KIND.txt files of dir, as `riskd serve --lists DIR` does.
func loadLists(reg *lists.Registry, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return err
	}
	for _, path := range files {
		name, kindName, ok := strings.Cut(strings.TrimSuffix(filepath.Base(path), ".txt"), ".")
		kind, okKind := lists.ParseKind(kindName)
		if !ok || !okKind {
			return fmt.Errorf("lists: %s: name list files NAME.KIND.txt", path)
		}
		if err := reg.LoadFile(name, kind, path); err != nil {
			return err
		}
	}
	return nil
}

// tally counts decisions per class and, per class and decision, the rules that fired.
type tally struct {
	rules     []string                        // rule ids, by position in the set
	decisions [numClasses][3]int              // by class, then rules.Allow/StepUp/Deny - 1
	fired     [numClasses][3][]int            // by class and decision: per rule, events it fired on
	noRule    [numClasses][3]int              // events no rule fired on
	outcomes  [features.NumOutcomeTypes]int64 // outcomes reported, by type
	events    int                             // replayed, warm-up included
	elapsed   time.Duration
}

func newTally(set *rules.Set) *tally {
	t := &tally{}
	for i := range set.Rules {
		t.rules = append(t.rules, set.Rules[i].ID)
	}
	for c := range t.fired {
		for a := range t.fired[c] {
			t.fired[c][a] = make([]int, len(set.Rules))
		}
	}
	return t
}

// replay decides on every event in time order and reports each outcome the identity server would: a login
// allowed with the right password succeeded; a stepped-up legitimate user passes MFA, an attacker fails it.
// Only events from split (unix seconds) on are counted. With dump non-nil, each counted event is also written to
// it as a JSON line: its class, the decision, the rules that fired and the whole feature vector, which is what an
// analyst needs to see why a class gets through.
func replay(eng *engine.Engine, g *generator, clock *simClock, dump io.Writer) (*tally, error) {
	slices.SortStableFunc(g.events, func(a, b event) int { return cmpInt(a.at, b.at) })
	set := eng.Rules()
	t := newTally(set)
	var (
		ev  features.Event
		d   engine.Decision
		out features.Outcome
	)
	split := g.split * 1e9
	var (
		dw  *bufio.Writer
		enc *jsonenc.VectorEncoder
		x   engine.Explanation
		buf []byte
	)
	if dump != nil {
		dw, enc = bufio.NewWriter(dump), jsonenc.NewVectorEncoder()
	}
	start := time.Now()
	for i := range g.events {
		e := &g.events[i]
		clock.now = e.at
		ev.Reset()
		ev.Type, ev.UserID, ev.IP, ev.Time = features.Login, g.users[e.user], e.ip, e.at
		ev.Tenant, ev.Channel = "default", "web"
		ev.HasCredentials, ev.CredentialsValid = true, e.valid
		if e.typ != 0 && e.typ != features.Login {
			ev.Type, ev.HasCredentials = e.typ, false
			if e.typ == features.Checkout {
				ev.Amount, ev.HasAmount, ev.Currency = float64(e.amount), true, evalCurrencies[e.currency]
			}
		}
		if e.device >= 0 {
			ev.DeviceID = g.devices[e.device]
		}
		if e.ua >= 0 {
			ev.UserAgent = g.uas[e.ua]
		}
		d.Explain = nil
		if dw != nil && e.at >= split {
			d.Explain = &x
		}
		if err := eng.Decide(&ev, &d); err != nil {
			return nil, fmt.Errorf("event %d (%s at %s): %w", i, e.class, time.Unix(0, e.at).UTC().Format(time.RFC3339), err)
		}
		t.events++
		if e.at >= split {
			t.count(e.class, &d, set)
			if d.Explain != nil {
				buf = appendDump(buf[:0], enc, e.class, &d)
				if _, err := dw.Write(buf); err != nil {
					return nil, fmt.Errorf("dump: %w", err)
				}
			}
		}
		if ev.Type != features.Login {
			if err := transactionOutcomes(eng, e, &ev, &d, t); err != nil {
				return nil, fmt.Errorf("outcome of event %d: %w", i, err)
			}
			continue
		}
		out = features.Outcome{UserID: ev.UserID, IP: ev.IP, DeviceID: ev.DeviceID, UserAgent: ev.UserAgent, Tenant: ev.Tenant, Time: e.at}
		switch {
		case !e.valid:
			// The failure was counted with the decision (credentials_valid: false); reported once, not twice.
			continue
		case d.Action == rules.Allow:
			out.Type = features.LoginSucceeded
		case d.Action == rules.StepUp && e.attacker && !e.phished:
			out.Type = features.MFAFailed
		case d.Action == rules.StepUp:
			out.Type = features.MFAPassed
		default:
			continue
		}
		if err := eng.Record(&out); err != nil {
			return nil, fmt.Errorf("outcome of event %d: %w", i, err)
		}
		t.outcomes[out.Type]++
	}
	t.elapsed = time.Since(start)
	if dw != nil {
		if err := dw.Flush(); err != nil {
			return nil, fmt.Errorf("dump: %w", err)
		}
	}
	return t, nil
}

// appendDump appends one line of the dump: {"class", "decision", "score", "rules": [fired, not shadow], "features"}.
func appendDump(b []byte, enc *jsonenc.VectorEncoder, c class, d *engine.Decision) []byte {
	b = append(b, `{"class":`...)
	b = jsonenc.AppendString(b, c.String())
	b = append(b, `,"decision":`...)
	b = jsonenc.AppendString(b, d.Action.String())
	b = append(b, `,"score":`...)
	b = strconv.AppendInt(b, int64(d.Score), 10)
	b = append(b, `,"rules":[`...)
	for i, r := range d.Reasons {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, r.Rule)
	}
	b = append(b, `],"features":`...)
	b = enc.Append(b, &d.Explain.Vector)
	return append(b, "}\n"...)
}

func (t *tally) count(c class, d *engine.Decision, set *rules.Set) {
	a := int(d.Action) - 1
	if a < 0 || a > 2 {
		a = 0
	}
	t.decisions[c][a]++
	n := 0
	for _, r := range d.Reasons {
		if i := set.Index(r.Rule); r.Rule != "" && i >= 0 {
			t.fired[c][a][i]++
			n++
		}
	}
	if n == 0 {
		t.noRule[c][a]++
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
