package engine_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/engine/enginetest"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/store"
)

// checkout returns a checkout event of user with the attributes a shop sends.
func checkout(user, ip, device string, amount float64, currency string, at time.Time) *features.Event {
	ev := &features.Event{Type: features.Checkout, UserID: user, IP: netip.MustParseAddr(ip), DeviceID: device,
		Tenant: "default", Time: at.UnixNano(), Amount: amount, HasAmount: true, Currency: currency}
	for _, a := range []features.Attribute{{Key: "email_domain", Value: "mailinator.com"},
		{Key: "shipping_country", Value: "SE"}, {Key: "billing_country", Value: "US"}, {Key: "payment_fingerprint", Value: "fp_12345678"}} {
		ev.Attributes[ev.NumAttributes] = a
		ev.NumAttributes++
	}
	return ev
}

// TestCheckoutLearnsSpendAndSequences: amounts are converted, checkout_completed teaches the spend profile
// once per evaluation, a payment-method change is remembered with its device, and a chargeback labels the
// evaluation fraud and forgets the device.
func TestCheckoutLearnsSpendAndSequences(t *testing.T) {
	dir := t.TempDir()
	l, err := decisionlog.Open(decisionlog.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := enginetest.New(t, nil, func(c *engine.Config) { c.Log = l })
	at := time.Now().Add(-30 * time.Hour)
	var d engine.Decision
	if err := e.Decide(login("cat", "216.160.83.56", "cat-phone", at), &d); err != nil {
		t.Fatal(err)
	}
	// An unknown currency is refused before anything is counted.
	if err := e.Decide(checkout("cat", "216.160.83.56", "cat-phone", 10, "XXX", at), &d); !errors.Is(err, features.ErrUnknownCurrency) {
		t.Fatalf("unknown currency: %v", err)
	}
	ev := checkout("cat", "216.160.83.56", "cat-phone", 10000, "JPY", at.Add(time.Minute))
	x := engine.Explanation{}
	d.Explain = &x
	if err := e.Decide(ev, &d); err != nil {
		t.Fatal(err)
	}
	d.Explain = nil
	if v := x.Vector; v.Amount < 40 || v.Amount > 70 || v.AmountGiven != 10000 || v.Currency != "JPY" || !v.FirstPurchase {
		t.Fatalf("10,000 JPY: amount %v given %v currency %q first %v", v.Amount, v.AmountGiven, v.Currency, v.FirstPurchase)
	}
	id := fmt.Sprintf("%016x", d.EvaluationID)
	done := features.Outcome{Type: features.CheckoutCompleted, UserID: "cat", DeviceID: "cat-phone", Tenant: "default",
		EvaluationID: id, Amount: 10000, HasAmount: true, Currency: "JPY", Time: at.Add(2 * time.Minute).UnixNano()}
	for range 2 { // delivered twice: taught once
		o := done
		if err := e.Record(&o); err != nil {
			t.Fatal(err)
		}
	}
	if u := exported(t, e, "cat"); u.Profile.Spend.Purchases != 1 || u.Profile.Spend.Largest < 40 || u.Profile.Spend.Largest > 70 {
		t.Fatalf("spend after one purchase told twice: %+v", u.Profile.Spend)
	}
	bad := done
	bad.Currency, bad.EvaluationID = "XXX", ""
	if err := e.Record(&bad); !errors.Is(err, features.ErrUnknownCurrency) {
		t.Fatalf("outcome in an unknown currency: %v", err)
	}

	pm := &features.Event{Type: features.PaymentMethodChange, UserID: "cat", IP: netip.MustParseAddr("214.78.120.1"),
		DeviceID: "new-pc", Tenant: "default", Time: at.Add(20 * time.Hour).UnixNano()}
	if err := e.Decide(pm, &d); err != nil {
		t.Fatal(err)
	}
	d.Explain = &x
	if err := e.Decide(checkout("cat", "214.78.120.1", "new-pc", 20, "EUR", at.Add(20*time.Hour+15*time.Minute)), &d); err != nil {
		t.Fatal(err)
	}
	if v := x.Vector; v.SincePaymentChangeM != 15 || !v.PaymentChangeNewDevice || !v.PaymentChangeDevice || v.Purchases != 1 {
		t.Fatalf("after a payment-method change from a new device: since %v new %v same %v purchases %v",
			v.SincePaymentChangeM, v.PaymentChangeNewDevice, v.PaymentChangeDevice, v.Purchases)
	}
	if got := x.Vector.Attr0; e.Rules().Attributes[0] != "email_domain" || got != "mailinator.com" {
		t.Fatalf("attr(%q) reads %q", e.Rules().Attributes[0], got)
	}
	d.Explain = nil
	before := exported(t, e, "cat").Profile.NumDevices
	cb := features.Outcome{Type: features.Chargeback, UserID: "cat", DeviceID: "cat-phone", Tenant: "default",
		EvaluationID: id, Time: at.Add(21 * time.Hour).UnixNano()}
	if err := e.Record(&cb); err != nil {
		t.Fatal(err)
	}
	if n := exported(t, e, "cat").Profile.NumDevices; n != before-1 {
		t.Fatalf("devices %d after a chargeback, want %d", n, before-1)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	var all []byte
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		all = append(all, b...)
	}
	if !bytes.Contains(all, []byte(`"evaluation_id":"`+id+`"`)) || !bytes.Contains(all, []byte(`"label":"fraud"`)) {
		t.Fatalf("the decision log has no fraud label for %s:\n%s", id, all)
	}
}

func exported(t *testing.T, e *engine.Engine, user string) store.UserData {
	t.Helper()
	var u store.UserData
	if _, err := e.Extractor().ExportUser(user, time.Now().UnixNano(), &u); err != nil {
		t.Fatal(err)
	}
	return u
}
