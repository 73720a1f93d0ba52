package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/rules"
)

const listRules = `version: lists-1
thresholds: {step_up: 40, deny: 80}
rules:
  - {id: blocklisted_ip, when: 'in_list("blocklist")', action: deny}
  - {id: vip_user, when: 'in_list("vips")', score: -30}
  - {id: risky_asn, when: 'in_list("risky_asns") && !trusted_device', score: 45}
  - {id: new_device, when: new_device, score: 25}
`

func listEngine(t *testing.T, reg *lists.Registry, l *decisionlog.Log) *engine.Engine {
	t.Helper()
	set, err := rules.Compile("lists.yaml", []byte(listRules))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Lists, ","); got != "blocklist,vips,risky_asns" {
		t.Fatalf("set lists %q", got)
	}
	return enginetest.New(t, nil, func(c *engine.Config) { c.Rules, c.Lists, c.Log = set, reg, l })
}

func TestListsAndExceptions(t *testing.T) {
	h := features.NewHasher([]byte("test")) // enginetest keys identifiers with this secret
	reg := lists.NewRegistry(lists.Hashers{User: h.User, Device: h.Device}, nil)
	dir := t.TempDir()
	l, err := decisionlog.Open(decisionlog.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := listEngine(t, reg, l)
	at := time.Now().Add(-time.Hour)
	var d engine.Decision
	decide := func(user, ip string) engine.Decision {
		t.Helper()
		if err := e.Decide(login(user, ip, "d-"+user, at), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}

	// Lists that do not exist yet never match.
	if d := decide("ann", "216.160.83.56"); d.Action != rules.Allow {
		t.Fatalf("before any list: %v %+v", d.Action, d.Reasons)
	}
	if err := reg.Put("blocklist", lists.IP, []lists.Entry{{Value: "216.160.83.0/24", Note: "INC-1"}}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Put("risky_asns", lists.ASN, []lists.Entry{{Value: "AS29518"}}); err != nil {
		t.Fatal(err)
	}
	if d := decide("ann", "216.160.83.56"); d.Action != rules.Deny || d.Reasons[0].Rule != "blocklisted_ip" {
		t.Fatalf("blocklisted network: %v %+v", d.Action, d.Reasons)
	}
	if d := decide("bea", "89.160.20.112"); d.Action != rules.StepUp || d.Reasons[0].Rule != "risky_asn" {
		t.Fatalf("risky ASN (AS29518): %v %+v", d.Action, d.Reasons)
	}

	// An exception for bea on that ASN suppresses risky_asn only, and says so.
	if _, err := reg.PutException(lists.Exception{ID: "INC-2", Rules: []string{"risky_asn"}, User: "bea", ASN: 29518,
		Expires: time.Now().Add(7 * 24 * time.Hour), Note: "travelling"}); err != nil {
		t.Fatal(err)
	}
	d = decide("bea", "89.160.20.112")
	if d.Action != rules.Allow || len(d.Reasons) != 1 || d.Reasons[0].Code != engine.CodeException || !strings.Contains(d.Reasons[0].Message, "risky_asn") {
		t.Fatalf("with the exception: %v %+v", d.Action, d.Reasons)
	}
	if d := decide("cy", "89.160.20.112"); d.Action != rules.StepUp {
		t.Fatalf("the exception is scoped to bea, cy: %v %+v", d.Action, d.Reasons)
	}

	// A user list.
	if err := reg.Put("vips", lists.User, []lists.Entry{{Value: "cy"}}); err != nil {
		t.Fatal(err)
	}
	if d := decide("cy", "89.160.20.112"); d.Action != rules.Allow || d.Score != 15 {
		t.Fatalf("vip on a risky ASN: %v %d %+v", d.Action, d.Score, d.Reasons)
	}

	// The log names the lists, for backtests whatever their numbering.
	l.Close()
	data, _ := os.ReadFile(filepath.Join(dir, decisionlog.CurrentName))
	if !strings.Contains(string(data), `"lists":["vips","risky_asns"]`) || !strings.Contains(string(data), `"lists":["blocklist"]`) {
		t.Fatalf("log lacks list names:\n%s", data)
	}
}
