package main

import (
	"fmt"
	"math"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/money"
	"github.com/riskd/riskd/rules"
)

// Checkouts: legitimate customers buy in the sessions of their logins, in their own currency, around their own
// typical amount; attackers cash out taken-over accounts. The shop reports each completed purchase
// (checkout_completed with the decision's evaluation id), which is what teaches riskd the customers' spending.

// The goals of the checkout classes.
const (
	goalCheckoutStepUp = 1.0  // % of legitimate checkouts (and the changes before them) stepped up, at most
	goalCheckoutDeny   = 0.05 // % of them denied, at most
	goalCashOut        = 99.0 // % of cash-outs and reset takeovers' checkouts stepped up or denied, at least
	goalHijack         = 95.0 // % of hijacked sessions' checkouts stepped up or denied, at least
)

// Shares of the legitimate checkouts.
const (
	shareCheckout    = 0.25 // of the everyday logins: a purchase follows in the session
	shareLargeBuy    = 0.01 // of the purchases: several times the customer's usual amount
	shareNewCard     = 0.02 // of the purchases: a new card is added just before
	shareAddressMove = 0.02 // of the purchases: the address (or e-mail, phone) is changed just before
)

// spender is what a legitimate customer usually spends: a log-normal amount around median (EUR), in the
// currency of the home country.
type spender struct {
	median, sigma float64
	currency      uint8
}

// evalCurrencies are the currencies the population pays in: each home country's, EUR where it is the euro
// area's, USD elsewhere.
var evalCurrencies = []string{"EUR", "USD", "GBP", "JPY", "SEK", "CHF", "CAD", "AUD", "BRL", "INR", "CNY", "PLN"}

var countryCurrency = map[string]string{
	"US": "USD", "GB": "GBP", "JP": "JPY", "SE": "SEK", "CH": "CHF", "CA": "CAD", "AU": "AUD", "BR": "BRL",
	"IN": "INR", "CN": "CNY", "PL": "PLN",
	"DE": "EUR", "FR": "EUR", "IT": "EUR", "ES": "EUR", "NL": "EUR", "BE": "EUR", "AT": "EUR", "FI": "EUR",
	"IE": "EUR", "PT": "EUR", "GR": "EUR", "LU": "EUR", "SK": "EUR", "SI": "EUR", "EE": "EUR", "LV": "EUR", "LT": "EUR",
}

func currencyOf(country string) uint8 {
	c, ok := countryCurrency[country]
	if !ok {
		c = "USD"
	}
	for i, e := range evalCurrencies {
		if e == c {
			return uint8(i)
		}
	}
	return 1
}

// localAmount converts eur into the customer's currency, rounded to the currency's usual precision.
func localAmount(eur float64, currency uint8, rates *money.Rates) float32 {
	code := evalCurrencies[currency]
	rate, _ := rates.Rate(code)
	v := eur / rate
	if code == "JPY" {
		return float32(math.Round(v))
	}
	return float32(math.Round(v*100) / 100)
}

// checkoutClass reports whether c is one of the checkout classes, which have goals of their own instead of the
// logins'.
func checkoutClass(c class) bool { return c >= checkoutEveryday && c <= hijack }

// checkouts adds the legitimate customers' purchases: after a share of their everyday logins, in the same session
// (same device and address, minutes later), sometimes preceded by a new card or an address change.
func (g *generator) checkouts() {
	rates := money.Default()
	owner := make(map[int32]*person, len(g.people))
	for i := range g.people {
		owner[g.people[i].user] = &g.people[i]
	}
	g.spenders = make(map[int32]spender, len(g.people))
	for _, p := range g.people {
		g.spenders[p.user] = spender{median: math.Exp(math.Log(60) + 0.8*g.r.NormFloat64()), sigma: 0.3 + 0.4*g.r.Float64(),
			currency: currencyOf(g.w.nets[p.home].country)}
	}
	n := len(g.events)
	for i := range n {
		e := g.events[i]
		if !e.valid || e.typ != 0 || g.r.Float64() >= shareCheckout {
			continue
		}
		switch e.class {
		case habitual, familyDevice, mobileCarrier, mistypedRetry:
		default:
			continue
		}
		s := g.spenders[e.user]
		at := e.at + int64(2+g.r.IntN(20))*60e9
		c := checkoutEveryday
		eur := s.median * math.Exp(s.sigma*g.r.NormFloat64())
		switch x := g.r.Float64(); {
		case x < shareLargeBuy:
			c, eur = checkoutLarge, s.median*(8+22*g.r.Float64())
		case x < shareLargeBuy+shareNewCard:
			c = newCard
			g.add(event{at: at - int64(1+g.r.IntN(5))*60e9, ip: e.ip, user: e.user, device: e.device, ua: e.ua, class: c,
				valid: true, typ: features.PaymentMethodChange})
		case x < shareLargeBuy+shareNewCard+shareAddressMove:
			c = addressChange
			g.add(event{at: at - int64(1+g.r.IntN(5))*60e9, ip: e.ip, user: e.user, device: e.device, ua: e.ua, class: c,
				valid: true, typ: features.ProfileChange})
		}
		g.add(event{at: at, ip: e.ip, user: e.user, device: e.device, ua: e.ua, class: c, valid: true,
			typ: features.Checkout, amount: localAmount(eur, s.currency, rates), currency: s.currency})
	}
}

// checkoutAttacks adds count cash-outs, reset takeovers and hijacked sessions. The takeovers' attackers hold
// the victim's second factor (a phished code, the mailbox that received the reset link): their login and
// changes pass MFA when stepped up, so only the checkout is left to stop them.
func (g *generator) checkoutAttacks(count int) {
	rates := money.Default()
	w := g.w
	for range count {
		g.takeoverThenCheckout(cashOut, rates)
		g.takeoverThenCheckout(resetTakeover, rates)
	}
	// Hijacked sessions: a victim's own login in the measured period, then the victim's device id (and user agent)
	// replayed from another network, straight to checkout.
	var own []int
	for i := range g.events {
		if e := &g.events[i]; e.class == habitual && e.typ == 0 && e.valid && e.device >= 0 && e.at >= g.split*1e9 &&
			e.at < (g.end-3*3600)*1e9 {
			own = append(own, i)
		}
	}
	for range min(count, len(own)) {
		v := g.events[own[g.r.IntN(len(own))]]
		s := g.spenders[v.user]
		home := &w.nets[g.homeOf(v.user)]
		var net int
		switch x := g.r.Float64(); {
		case x < 0.4:
			net = pick(g.r, w.proxy)
		case x < 0.6:
			net = pick(g.r, w.hosting)
		default:
			// A home machine in the victim's country, on another operator: the stolen cookie's buyer nearby.
			country := g.victimCountry(v.user)
			for range 50 {
				if net = pick(g.r, w.byCountry[country]); w.nets[net].asn != home.asn {
					break
				}
			}
		}
		g.add(event{at: v.at + int64(10+g.r.IntN(110))*60e9, ip: w.nets[net].addr(g.r), user: v.user, device: v.device,
			ua: v.ua, class: hijack, valid: true, attacker: true, typ: features.Checkout,
			amount: localAmount(s.median*(1+4*g.r.Float64()), s.currency, rates), currency: s.currency})
	}
}

// homeOf returns the user's home network.
func (g *generator) homeOf(user int32) int {
	for i := range g.people {
		if g.people[i].user == user {
			return g.people[i].home
		}
	}
	return 0
}

// victimCountry is the country of the user's home network.
func (g *generator) victimCountry(user int32) string { return g.w.nets[g.homeOf(user)].country }

// takeoverThenCheckout writes one account takeover ending in a large checkout: from a device of the attacker's, on
// a residential proxy of the victim's country or a network abroad, a login (after a password reset for
// resetTakeover), a payment-method change (cashOut) and the purchase.
func (g *generator) takeoverThenCheckout(c class, rates *money.Rates) {
	w := g.w
	p := &g.people[g.r.IntN(len(g.people))]
	home := &w.nets[p.home]
	var net int
	if g.r.Float64() < 0.6 {
		for range 50 {
			if net = pick(g.r, w.byCountry[home.country]); w.nets[net].asn != home.asn {
				break
			}
		}
	} else {
		net = pick(g.r, w.byCountry[w.otherCountry(g.r, home.country)])
	}
	ip := w.nets[net].addr(g.r)
	d := g.device(fmt.Sprintf("atk-%d", len(g.devices)), g.uat.desktop.pick(g.r))
	at := g.measuredTime(3600) * 1e9
	prelude := event{ip: ip, user: p.user, device: d.id, ua: d.ua, class: takeoverPrelude, valid: true, attacker: true, phished: true}
	step := func(typ features.EventType) {
		at += int64(1+g.r.IntN(6)) * 60e9
		e := prelude
		e.at, e.typ = at, typ
		g.add(e)
	}
	if c == resetTakeover {
		step(features.PasswordReset)
	}
	step(features.Login)
	if c == cashOut {
		step(features.PaymentMethodChange)
	}
	s := g.spenders[p.user]
	at += int64(2+g.r.IntN(15)) * 60e9
	g.add(event{at: at, ip: ip, user: p.user, device: d.id, ua: d.ua, class: c, valid: true, attacker: true, phished: true,
		typ: features.Checkout, amount: localAmount(s.median*(3+17*g.r.Float64()), s.currency, rates), currency: s.currency})
}

// transactionOutcomes reports what the shop and the identity server would after a decision on a checkout or a
// sensitive change: a purchase allowed (or stepped up and passed) completes and is reported with its evaluation
// id; a legitimate customer, or an attacker holding the second factor, passes a step-up; other attackers fail it.
func transactionOutcomes(eng *engine.Engine, e *event, ev *features.Event, d *engine.Decision, t *tally) error {
	out := features.Outcome{UserID: ev.UserID, IP: ev.IP, DeviceID: ev.DeviceID, UserAgent: ev.UserAgent, Tenant: ev.Tenant,
		Time: ev.Time, EvaluationID: fmt.Sprintf("%016x", d.EvaluationID)}
	record := func(typ features.OutcomeType) error {
		o := out
		o.Type = typ
		if typ == features.CheckoutCompleted {
			o.Amount, o.HasAmount, o.Currency = ev.Amount, true, ev.Currency
		}
		t.outcomes[typ]++
		return eng.Record(&o)
	}
	passes := !e.attacker || e.phished
	switch d.Action {
	case rules.Deny:
		return nil
	case rules.StepUp:
		if !passes {
			return record(features.MFAFailed)
		}
		if err := record(features.MFAPassed); err != nil {
			return err
		}
	}
	switch {
	case ev.Type != features.Checkout:
		return nil
	case e.declined:
		return record(features.PaymentDeclined) // the bank refused the card: nothing was bought
	}
	return record(features.CheckoutCompleted)
}

// checkoutGoals checks the checkout classes' goals.
func checkoutGoals(t *tally) []Goal {
	sum := func(cs ...class) (n, stepUp, deny int) {
		for _, c := range cs {
			d := t.decisions[c]
			n += d[0] + d[1] + d[2]
			stepUp += d[1]
			deny += d[2]
		}
		return
	}
	legit, legitStepUp, legitDeny := sum(checkoutEveryday, newCard, addressChange)
	takeover, tsu, tdeny := sum(cashOut, resetTakeover)
	hijacked, hsu, hdeny := sum(hijack)
	goals := []Goal{
		{Name: fmt.Sprintf("legitimate checkouts stepped up <= %g %%", goalCheckoutStepUp), Events: legit, Measured: pct(legitStepUp, legit)},
		{Name: fmt.Sprintf("legitimate checkouts denied <= %g %%", goalCheckoutDeny), Events: legit, Measured: pct(legitDeny, legit)},
		{Name: fmt.Sprintf("cash-outs, reset takeovers caught >= %g %%", goalCashOut), Events: takeover, Measured: pct(tsu+tdeny, takeover)},
		{Name: fmt.Sprintf("hijacked sessions caught >= %g %%", goalHijack), Events: hijacked, Measured: pct(hsu+hdeny, hijacked)},
	}
	goals[0].Pass = legit > 0 && goals[0].Measured <= goalCheckoutStepUp
	goals[1].Pass = legit > 0 && goals[1].Measured <= goalCheckoutDeny
	goals[2].Pass = takeover > 0 && goals[2].Measured >= goalCashOut
	goals[3].Pass = hijacked > 0 && goals[3].Measured >= goalHijack
	return goals
}
