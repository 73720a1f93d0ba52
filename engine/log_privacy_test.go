package engine_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/store"
)

// TestDecisionLogIsPseudonymous is why an erasure leaves the decision log alone (README, Design: Decision log and
// erasure): the log, owner-only, names the user only by the keyed hash riskd's state uses, and holds neither
// the identifier nor the address nor the device id; the same id under another hash key gives an unrelated
// hash, so the log alone links no record to anyone. Once the user is erased, nothing in riskd maps the hash
// back.
func TestDecisionLogIsPseudonymous(t *testing.T) {
	const secret, id, ip, device = "log-key", "quinn@example.com", "216.160.83.56", "q-phone-77"
	dir := t.TempDir()
	l, err := decisionlog.Open(decisionlog.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	set, _ := rules.Default()
	city, asn, anon := testenv.GeoIP(t)
	db, err := geo.Open(geo.Config{CityPath: city, ASNPath: asn, AnonymousPath: anon})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hasher := features.NewHasher([]byte(secret))
	state := features.NewState(0)
	x := features.NewExtractor(hasher, state, db)
	e, err := engine.New(engine.Config{Extractor: x, Rules: set, Log: l})
	if err != nil {
		t.Fatal(err)
	}
	var d engine.Decision
	if err := e.Decide(login(id, ip, device, time.Now().Add(-time.Minute)), &d); err != nil {
		t.Fatal(err)
	}
	if had, err := x.EraseUser(id); !had || err != nil {
		t.Fatalf("erase: %v %v", had, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, decisionlog.CurrentName)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("log file mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	for _, clear := range []string{id, "quinn", ip, device} {
		if strings.Contains(string(data), clear) {
			t.Fatalf("the log holds %q in clear:\n%s", clear, data)
		}
	}
	var rec map[string]any
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	want := fmt.Sprintf("%016x", hasher.User(id))
	if rec["user"] != want {
		t.Fatalf("user %v, want the keyed hash %s", rec["user"], want)
	}
	if other := fmt.Sprintf("%016x", features.NewHasher([]byte("another key")).User(id)); other == want {
		t.Fatal("the hash does not depend on the key: anyone could link the log to an id")
	}
	if held, _ := state.Export(hasher.User(id), time.Now().Unix(), new(store.UserData)); held {
		t.Fatal("the erased user is still in the state that could map the hash back")
	}
}
