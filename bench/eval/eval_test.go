package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/rules"
)

// A synthetic GeoIP set as `make eval` generates, smaller: bench/geogen run once for the package's tests.
var (
	geoOnce sync.Once
	geoDir  string
	geoErr  error
)

func syntheticGeo(t *testing.T) string {
	t.Helper()
	geoOnce.Do(func() {
		dir, err := os.MkdirTemp("", "riskd-eval-geo-")
		if err != nil {
			geoErr = err
			return
		}
		geoDir = filepath.Join(dir, "geoip")
		out, err := exec.Command("go", "run", "../geogen", "-out", geoDir, "-networks", "20000", "-build-epoch", "1700000000").CombinedOutput()
		if err != nil {
			geoErr = fmt.Errorf("go run ../geogen: %w\n%s", err, out)
		}
	})
	if geoErr != nil {
		t.Fatal(geoErr)
	}
	return geoDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if geoDir != "" {
		os.RemoveAll(filepath.Dir(geoDir))
	}
	os.Exit(code)
}

// TestEvaluationEndToEnd runs a small population through the whole program and checks the report's shape: every
// class present, rates that add up, the goals, and the same table in CSV.
func TestEvaluationEndToEnd(t *testing.T) {
	dir := syntheticGeo(t)
	csvPath := filepath.Join(t.TempDir(), "eval.csv")
	dumpPath := filepath.Join(t.TempDir(), "eval.ndjson")
	var stdout, stderr bytes.Buffer
	args := []string{"-geoip", dir, "-ua", "", "-users", "200", "-warmup-days", "10", "-days", "3", "-seed", "7", "-json", "-out", csvPath, "-dump", dumpPath}
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("-json: %v\n%s", err, stdout.String())
	}
	if rep.RulesSource != rules.DefaultSource {
		t.Errorf("rules %s from %s, want the built-in set", rep.Rules, rep.RulesSource)
	}
	if rep.Events < 3000 || rep.Outcomes["login_succeeded"] == 0 {
		t.Errorf("replayed %d events, outcomes %v", rep.Events, rep.Outcomes)
	}
	seen := map[string]ClassRow{}
	for _, r := range rep.Classes {
		seen[r.Class] = r
		if r.Events <= 0 || math.Abs(r.Allow+r.StepUp+r.Deny-100) > 1e-6 {
			t.Errorf("%s: %d events, %.2f + %.2f + %.2f %%", r.Class, r.Events, r.Allow, r.StepUp, r.Deny)
		}
		n := 0
		for _, d := range r.Fired {
			n += d.Events
		}
		if n != r.Events {
			t.Errorf("%s: %d events, %d in the per-decision rule breakdown", r.Class, r.Events, n)
		}
	}
	for c := range numClasses {
		// Situations a small population may not meet in three days.
		rare := c == newPhone || c == mistypedRetry || c == mistyped || c == tripInCountry || c == awayFromHome || c == clearedCookies
		if _, ok := seen[c.String()]; !ok && !rare {
			t.Errorf("class %s missing from %v", c, rep.Classes)
		}
	}
	// The built-in set tests the list (rule blocklisted), so the class counts among the takeovers.
	if k := seen[knownBad.String()]; k.Informational != "" || k.Allow != 0 {
		t.Errorf("known_bad_ip with the built-in blocklisted rule: %+v", k)
	}
	if len(rep.Goals) < 3 || rep.Goals[0].Events == 0 || rep.Goals[2].Events == 0 {
		t.Fatalf("goals %+v", rep.Goals)
	}
	// Registrations and card testing have goals of their own, each measured on events.
	for _, g := range rep.Goals[3:] {
		if g.Events == 0 {
			t.Errorf("goal %q measured on no event", g.Name)
		}
	}
	if r := seen[farmFirst20.String()]; r.Informational == "" || r.Events != farmFirst*4 { // the test's 200 users make the fewest farms, 4
		t.Errorf("a farm's first registrations: %+v", r)
	}

	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(rep.Classes)+1 || strings.Join(rows[0][:6], ",") != "class,kind,events,allow_pct,step_up_pct,deny_pct" {
		t.Errorf("CSV: %d rows for %d classes, header %v", len(rows), len(rep.Classes), rows[0])
	}

	// The dump: one line per measured event, which agrees with the table.
	raw, err := os.ReadFile(dumpPath)
	if err != nil {
		t.Fatal(err)
	}
	perClass := map[string]int{}
	for i, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		var d struct {
			Class, Decision string
			Score           int
			Rules           []string
			Features        map[string]any
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("-dump line %d: %v\n%s", i+1, err, line)
		}
		if d.Decision == "" || d.Features["event"] == nil || d.Features["event"] == "" || d.Features["user_logins"] == nil {
			t.Fatalf("-dump line %d lacks the decision or the feature vector: %s", i+1, line)
		}
		perClass[d.Class]++
	}
	for _, r := range rep.Classes {
		if perClass[r.Class] != r.Events {
			t.Errorf("-dump has %d events of %s, the table %d", perClass[r.Class], r.Class, r.Events)
		}
	}

	// The text table, with -explain, for people.
	stdout.Reset()
	if err := run([]string{"-geoip", dir, "-ua", "", "-users", "50", "-warmup-days", "5", "-days", "1", "-explain"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	text := stdout.String()
	for _, want := range []string{"class                  kind     events  allow % step_up %   deny %", "legitimate logins stepped up <= 2 %",
		"takeovers stepped up or denied >= 99 %", "rules that fired, per class and decision", "\ntor (attack)\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "PASS")+strings.Count(text, "MISS") != len(checkoutGoals(&tally{}))+len(transactionGoals(&tally{}))+3 {
		t.Errorf("want a PASS or MISS per goal:\n%s", text)
	}
}

// TestFactsWhateverTheTuning replays hand-made events through the engine assembled as the program assembles it:
// what any sensible default rule set must do.
func TestFactsWhateverTheTuning(t *testing.T) {
	w, db, err := loadWorld(syntheticGeo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	g := newGenerator(w, builtinUserAgents(), 1, begin, 10, 1)
	browser := g.ua(g.uat.desktop.agents[0])

	// Stuffing: 1000 accounts tried from one address in ten minutes, every password wrong.
	stuffer := w.nets[pick(g.r, w.resid)].addr(g.r)
	for i := range 1000 {
		u := g.user(fmt.Sprintf("victim-%d", i))
		g.add(event{at: (g.split+int64(i)*600/1000)*1e9 + 1, ip: stuffer, user: u, device: -1, ua: browser, class: stuffingFewIPs, attacker: true})
	}
	// A habitual user: nine logins from home on the same laptop over nine days, then the tenth, measured.
	home := w.nets[pick(g.r, w.resid)]
	homeIP := home.addr(g.r)
	ana := g.user("ana")
	laptop := g.device("ana-laptop", g.uas[browser])
	for day := range int64(10) {
		g.add(event{at: (g.split - 9*86400 + day*86400 + 3600) * 1e9, ip: homeIP, user: ana, device: laptop.id, ua: browser,
			class: habitual, valid: true})
	}
	// The same user's password from a Tor exit and a new device.
	tor := g.device("stolen", torBrowser)
	g.add(event{at: (g.split + 7200) * 1e9, ip: w.nets[pick(g.r, w.tor)].addr(g.r), user: ana, device: tor.id, ua: tor.ua,
		class: torLogin, valid: true, attacker: true})

	dir := t.TempDir()
	if err := writeList(dir, nil); err != nil {
		t.Fatal(err)
	}
	clock := &simClock{now: g.start * 1e9}
	eng, err := assemble(set, db, dir, clock)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := replay(eng, g, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := tl.decisions[stuffingFewIPs]; d[2] < 970 {
		t.Errorf("1000 accounts tried from one address in ten minutes: allow/step_up/deny %v, want at least 970 denied", d)
	}
	if d := tl.decisions[habitual]; d != [3]int{1, 0, 0} {
		t.Errorf("a habitual user's tenth login from home on her laptop: allow/step_up/deny %v, want allowed", d)
	}
	if d := tl.decisions[torLogin]; d[0] != 0 || d[1]+d[2] != 1 {
		t.Errorf("her password from a Tor exit on a new device: allow/step_up/deny %v, want stepped up or denied", d)
	}
}

// TestCandidateRulesAndLists evaluates a candidate set that tests the known-bad list, loaded as riskd serve
// --lists loads it: the class then counts among the takeovers, and the list stops every one of them.
func TestCandidateRulesAndLists(t *testing.T) {
	dir := syntheticGeo(t)
	candidate := filepath.Join(t.TempDir(), "candidate.yaml")
	err := os.WriteFile(candidate, []byte(`version: candidate-1
thresholds: {step_up: 40, deny: 80}
rules:
  - id: known_bad_address
    description: The address is on the threat feed.
    when: in_list("blocklist")
    action: deny
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	lists := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"-geoip", dir, "-ua", "", "-users", "100", "-warmup-days", "5", "-days", "2", "-rules", candidate, "-lists", lists, "-json"}
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Rules != "candidate-1" {
		t.Errorf("rules %q, want the candidate", rep.Rules)
	}
	for _, r := range rep.Classes {
		switch r.Class {
		case knownBad.String():
			if r.Informational != "" || r.Deny != 100 || len(r.Fired) != 1 || r.Fired[0].Rules[0].Rule != "known_bad_address" {
				t.Errorf("known-bad addresses with a rule on the list: %+v", r)
			}
		case torLogin.String():
			if r.Allow != 100 {
				t.Errorf("Tor with a set that knows nothing of Tor: %+v", r)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(lists, knownBadList+".ip.txt")); err != nil {
		t.Errorf("the list is not left in -lists: %v", err)
	}
}

// TestAddressesStayInTheirNetwork: an address picked for a network must be one the database places there.
func TestAddressesStayInTheirNetwork(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range []string{"203.0.113.0/24", "198.51.100.7/32", "192.0.2.0/31", "10.0.0.0/8", "2001:db8::/48", "2001:db8:0:0:ffff:ffff:ffff:ff00/120"} {
		n := network{prefix: netip.MustParsePrefix(s)}
		for range 1000 {
			if a := n.addr(r); !n.prefix.Contains(a) || (n.prefix.Bits() < a.BitLen() && a == n.prefix.Addr()) {
				t.Fatalf("%s: picked %s", s, a)
			}
		}
	}
}
