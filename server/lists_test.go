package server_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/server"
)

func TestListsAndExceptionsAPI(t *testing.T) {
	h := features.NewHasher([]byte("test"))
	reg := lists.NewRegistry(lists.Hashers{User: h.User, Device: h.Device}, nil)
	set, err := rules.Compile("t.yaml", []byte(`version: l1
thresholds: {step_up: 40, deny: 80}
rules:
  - {id: blocked, when: 'in_list("blocklist")', action: deny}
`))
	if err != nil {
		t.Fatal(err)
	}
	var audit bytes.Buffer
	ts := startWith(t, func(c *server.Config) { c.Lists, c.Auditor = reg, server.NewAuditor(&audit) },
		func(c *engine.Config) { c.Rules, c.Lists = set, reg })
	j := "application/json"

	if d := ts.decide(login("lia", ipMilton, "d", base())); d.Decision != "allow" {
		t.Fatalf("before the list: %+v", d)
	}
	status, m := ts.do(http.MethodPut, "/v1/lists/blocklist", j, []byte(`{"kind":"ip","entries":[{"value":"216.160.83.0/24","note":"INC-9","expires":"`+at(time.Now().Add(time.Hour))+`"}]}`))
	if status != 200 || m["entries_put"] != 1.0 {
		t.Fatalf("put list: %d %v", status, m)
	}
	if d := ts.decide(login("lia", ipMilton, "d", base().Add(time.Hour))); d.Decision != "deny" {
		t.Fatalf("listed address: %+v", d)
	}
	if status, m := ts.do(http.MethodGet, "/v1/lists/blocklist", "", nil); status != 200 || len(m["entries"].([]any)) != 1 {
		t.Fatalf("get list: %d %v", status, m)
	}
	if status, m := ts.do(http.MethodPut, "/v1/lists/blocklist", j, []byte(`{"kind":"asn","entries":[]}`)); status != 400 {
		t.Fatalf("kind change: %d %v", status, m)
	}
	if status, m := ts.do(http.MethodPut, "/v1/lists/blocklist", j, []byte(`{"kind":"ip","entries":[{"value":"not-an-ip"}]}`)); status != 400 {
		t.Fatalf("bad entry: %d %v", status, m)
	}

	// An exception for lia lifts the rule for her only.
	exc := `{"rules":["blocked"],"user":"lia","expires":"` + at(time.Now().Add(24*time.Hour)) + `","note":"verified by phone"}`
	if status, m := ts.do(http.MethodPut, "/v1/exceptions/INC-10", j, []byte(exc)); status != 200 || m["user"] == "lia" {
		t.Fatalf("put exception: %d %v", status, m)
	}
	if d := ts.decide(login("lia", ipMilton, "d", base().Add(2*time.Hour))); d.Decision != "allow" || !d.has(engine.CodeException) {
		t.Fatalf("with the exception: %+v", d)
	}
	if d := ts.decide(login("mo", ipMilton, "d", base().Add(2*time.Hour))); d.Decision != "deny" {
		t.Fatalf("someone else: %+v", d)
	}
	if status, m := ts.do(http.MethodPut, "/v1/exceptions/INC-11", j, []byte(`{"rules":["blocked"],"user":"x"}`)); status != 400 {
		t.Fatalf("exception without expiry: %d %v", status, m)
	}
	if status, _ := ts.do(http.MethodDelete, "/v1/exceptions/INC-10", "", nil); status != 204 {
		t.Fatalf("delete exception: %d", status)
	}
	if status, m := ts.do(http.MethodPost, "/v1/lists/blocklist/remove", j, []byte(`{"values":["216.160.83.0/24"]}`)); status != 200 || m["removed"] != 1.0 {
		t.Fatalf("remove: %d %v", status, m)
	}
	if d := ts.decide(login("lia", ipMilton, "d", base().Add(3*time.Hour))); d.Decision != "allow" {
		t.Fatalf("after removal: %+v", d)
	}
	for _, want := range []string{`"action":"list.put"`, `"action":"exception.put"`, `"action":"exception.delete"`, `"action":"list.remove"`} {
		if !bytes.Contains(audit.Bytes(), []byte(want)) {
			t.Errorf("audit lacks %s", want)
		}
	}
}
