package rules_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/rules"
)

// TestAttrCompilesToFields: attr("name") reads the slot the set gives the name, natively; in_list with an
// attribute tests a bit of attr_list_mask; FillAttributes copies the event's values into the slots.
func TestAttrCompilesToFields(t *testing.T) {
	set, err := rules.Compile("attr.yaml", []byte(`thresholds: {step_up: 40, deny: 80}
rules:
  - {id: free_mail, when: 'attr("email_domain") in ["gmail.com", "outlook.com"]', score: 10}
  - {id: mismatch, when: 'attr("shipping_country") != attr("billing_country") && attr("billing_country") != ""', score: 20}
  - {id: disposable, when: 'in_list("disposable", attr("email_domain")) || in_list("blocklist")', score: 30}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Attributes, ","); got != "email_domain,shipping_country,billing_country" {
		t.Fatalf("attributes %q", got)
	}
	if len(set.AttrLists) != 1 || set.AttrLists[0] != (rules.AttrList{List: "disposable", Attr: 0}) || set.Lists[0] != "blocklist" {
		t.Fatalf("attribute lists %+v, lists %v", set.AttrLists, set.Lists)
	}
	for i := range set.Rules {
		if !set.Rules[i].Native() {
			t.Errorf("rule %s runs on the VM", set.Rules[i].ID)
		}
	}
	ev := features.Event{Type: features.Checkout, NumAttributes: 2}
	ev.Attributes[0] = features.Attribute{Key: "billing_country", Value: "US"}
	ev.Attributes[1] = features.Attribute{Key: "email_domain", Value: "gmail.com"}
	e := rules.NewEvaluator()
	set.FillAttributes(&ev, &e.Vector)
	e.Vector.AttrListMask = 1
	var res rules.Result
	set.Evaluate(e, rules.Input{Type: features.Checkout, Tenant: "default"}, &res)
	if res.Score != 60 {
		t.Fatalf("score %d, want 60 (free mail, mismatch, disposable): %+v", res.Score, res.Fired)
	}
}

func TestAttrRefusesMisuse(t *testing.T) {
	many := make([]string, features.NumAttrSlots+1)
	for i := range many {
		many[i] = fmt.Sprintf(`attr("a%d") == "x"`, i)
	}
	for when, want := range map[string]string{
		`attr(email_domain) == "x"`: "attr takes one attribute name in quotes",
		`attr("Email") == "x"`:      "lower-case",
		`in_list("l", country)`:     "second argument must be attr",
		strings.Join(many, " || "):  "at most 8 attribute names",
		`attr("email_domain") > 3`:  "mismatched types",
	} {
		_, err := rules.Compile("bad.yaml", []byte("thresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: r, when: '"+when+"', score: 1}\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", when, err, want)
		}
	}
}
