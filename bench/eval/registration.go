package main

import (
	"fmt"
	"math"
	"net/netip"

	"github.com/riskd/riskd/features"
)

// Registrations and card testing: a campaign day's genuine sign-ups followed by first purchases, card testers
// working with accounts they have just registered, and account farms behind residential proxies with a new
// device id for every account. These events are registrations and checkouts, decided and fed back as the
// identity server and the shop would, and measured against their own goals.

// The goals of registrations and card testing.
const (
	goalCampaignStepUp   = 2.0  // % of a campaign's genuine registrations stepped up, at most
	goalCampaignDeny     = 0.1  // % of them denied, at most
	goalPurchaseStepUp   = 1.0  // % of the campaign accounts' first purchases stepped up, at most (as any legitimate checkout)
	goalPurchaseDeny     = 0.05 // % of them denied, at most
	goalCardTesting      = 95.0 // % of card testers' checkouts stepped up or denied, at least
	goalFakeRegistration = 90.0 // % of a farm's registrations from its 21st on stepped up or denied, at least
)

// The campaign day.
const (
	// campaignMeanMinutes: registrations follow the campaign's e-mail, sent at 09:00 UTC, at an exponentially
	// decaying rate; half come within an hour.
	campaignMeanMinutes = 90
	shareCampaignMobile = 0.35 // on the phone, through the carrier's NAT (cgnat)
	shareCampaignVPN    = 0.01 // through an anonymous VPN or a relay the database flags, as some privacy-minded people do
	// shareCampaignCouple: a second account from the same home soon after the first, half of them on the same
	// device (a partner on the family laptop).
	shareCampaignCouple   = 0.08
	shareCampaignPurchase = 0.6  // campaign accounts that buy something within the measured period
	shareCampaignSmall    = 0.04 // first purchases below features.SmallCheckoutAmount (a coupon, a gift card top-up)
	// cgnatAddresses: the public addresses a carrier's NAT shares among its subscribers of one country; several
	// genuine registrations per address within a day are normal there.
	cgnatAddresses = 32
)

// Card testers and farms.
const (
	shareDeclined = 0.75 // card testers' payments declined: most stolen card numbers are dead
	// shareExitsFlagged: residential-proxy exits the anonymous-IP database flags; the others are home machines
	// it does not know of, which is what makes residential proxies worth their price.
	shareExitsFlagged = 0.3
	farmExits         = 40  // a farm's pool of proxy exits
	stickySeconds     = 600 // a residential proxy's sticky session: one exit for ten minutes, then another
	farmFirst         = 20  // a farm's registrations before its goal counts
)

// isTransaction reports whether c is a class of registrations and checkouts, measured by the goals below and
// not by the logins'.
func (c class) isTransaction() bool { return c >= campaignSignup && c <= fakeRegistration }

// transactionNote says why a class of registrations and checkouts counts in no goal ("" when it counts).
func transactionNote(c class) string {
	switch c {
	case cardTestSignup:
		return "the card testers' own registrations; their checkouts are measured"
	case farmFirst20:
		return fmt.Sprintf("a farm's first %d registrations, before its numbers show", farmFirst)
	}
	return ""
}

// transactions adds the campaign, the card testers and the farms, sized from the n legitimate users.
func (g *generator) transactions(n int) {
	g.campaign(max(3000, n/4))
	g.cardTesters(max(8, n/2000))
	g.farms(max(4, n/5000))
}

// campaign adds count genuine registrations on the third measured day (the last one when fewer are measured),
// from homes and phones all over the population's countries, and the first purchases of the new accounts.
func (g *generator) campaign(count int) {
	days := (g.end - g.split) / 86400
	send := g.split + min(2, days-1)*86400 + 9*3600
	pools := map[uint32][]netip.Addr{}
	for i := 0; i < count; i++ {
		at := send + int64(g.r.ExpFloat64()*campaignMeanMinutes*60)
		if at >= g.end {
			continue
		}
		home := &g.w.nets[pick(g.r, g.w.resid)]
		mobile := g.r.Float64() < shareCampaignMobile
		ip, ua := home.addr(g.r), g.uat.desktop.pick(g.r)
		switch {
		case mobile:
			ip, ua = g.cgnat(home, pools), g.uat.mobile.pick(g.r)
		case g.r.Float64() < shareCampaignVPN:
			ip = g.privacyVPN()
		}
		d := g.device(fmt.Sprintf("campaign-%d", len(g.devices)), ua)
		g.signup(at, ip, d, mobile, home, pools)
		if !mobile && g.r.Float64() < shareCampaignCouple && i+1 < count {
			i++
			if g.r.Float64() < 0.5 {
				d = g.device(fmt.Sprintf("campaign-%d", len(g.devices)), g.uat.mobile.pick(g.r))
			}
			g.signup(min(at+g.r.Int64N(1800), g.end-1), ip, d, false, home, pools)
		}
	}
}

// signup adds one genuine registration and, for some, the account's first purchase: from the same device, at
// home from the same address, on the phone from another address of the carrier's NAT.
func (g *generator) signup(at int64, ip netip.Addr, d device, mobile bool, home *network, pools map[uint32][]netip.Addr) {
	user := g.user(fmt.Sprintf("campaign-user-%d", len(g.users)))
	g.add(event{at: at * 1e9, typ: features.Registration, ip: ip, user: user, device: d.id, ua: d.ua, class: campaignSignup, valid: true})
	if g.r.Float64() >= shareCampaignPurchase {
		return
	}
	// Some buy at once (the campaign's coupon), most within the day, a few days later.
	buy := at + 60 + int64(g.r.ExpFloat64()*4*3600)
	if buy >= g.end {
		return
	}
	if mobile {
		ip = g.cgnat(home, pools)
	}
	amount := math.Round(math.Exp(3.6+0.8*g.r.NormFloat64())*100) / 100 // median 37, most between 15 and 90
	if g.r.Float64() < shareCampaignSmall {
		amount = 2 + float64(g.r.IntN(750))/100
	}
	g.add(event{at: buy * 1e9, typ: features.Checkout, amount: float32(amount), ip: ip, user: user, device: d.id, ua: d.ua,
		class: campaignPurchase, valid: true})
}

// cgnat returns one of the public addresses the home's carrier shares among its subscribers.
func (g *generator) cgnat(home *network, pools map[uint32][]netip.Addr) netip.Addr {
	pool := pools[home.asn]
	if pool == nil {
		nets := g.w.byASN[home.asn]
		for range cgnatAddresses {
			pool = append(pool, g.w.nets[pick(g.r, nets)].addr(g.r))
		}
		pools[home.asn] = pool
	}
	return pool[g.r.IntN(len(pool))]
}

// privacyVPN returns an address of a commercial VPN, as a privacy-minded customer uses one: a network the
// database flags as a VPN (and often as hosting), not one it also lists as an open proxy.
func (g *generator) privacyVPN() netip.Addr {
	n := &g.w.nets[pick(g.r, g.w.vpn)]
	for range 50 {
		if !n.anyProxy {
			break
		}
		n = &g.w.nets[pick(g.r, g.w.vpn)]
	}
	return n.addr(g.r)
}

// exit returns a residential-proxy exit in country: an address the database flags as a proxy now and then
// (shareExitsFlagged), else a home machine of the country that nothing marks.
func (g *generator) exit(country string) netip.Addr {
	if g.r.Float64() < shareExitsFlagged {
		return g.w.nets[pick(g.r, g.w.proxy)].addr(g.r)
	}
	return g.w.nets[pick(g.r, g.w.byCountry[country])].addr(g.r)
}

// cardTesters adds runs card-testing runs. Each registers 10 to 30 accounts within half an hour, then tries
// stolen cards with small checkouts from them, 3 to 8 per account over the next hour; most are declined, and
// the shop says so (payment_declined). The runs differ by what they rotate: one device and one address; one
// device behind residential proxies (an exit per account); a new device id per account from one address; both
// rotated.
func (g *generator) cardTesters(runs int) {
	for run := range runs {
		rotateIP, rotateDevice := run%2 == 1, run%4 >= 2
		home := &g.w.nets[pick(g.r, g.w.resid)]
		ip, ua := home.addr(g.r), g.uat.desktop.pick(g.r)
		d := g.device(fmt.Sprintf("tester-%d", len(g.devices)), ua)
		start := g.measuredTime(3 * 3600)
		for a := range 10 + g.r.IntN(21) {
			user := g.user(fmt.Sprintf("tester-%d-%d", run, a))
			if rotateIP {
				ip = g.exit(home.country)
			}
			if rotateDevice {
				d = g.device(fmt.Sprintf("tester-%d", len(g.devices)), ua)
			}
			reg := start + g.r.Int64N(1800)
			g.add(event{at: reg * 1e9, typ: features.Registration, ip: ip, user: user, device: d.id, ua: d.ua,
				class: cardTestSignup, valid: true, attacker: true})
			for range 3 + g.r.IntN(6) {
				at := reg + 60 + g.r.Int64N(3600)
				g.add(event{at: at * 1e9, typ: features.Checkout, amount: 0.5 + float32(g.r.IntN(450))/100, ip: ip,
					user: user, device: d.id, ua: d.ua, class: cardTesting, valid: true, attacker: true,
					declined: g.r.Float64() < shareDeclined})
			}
		}
	}
}

// farms adds count account farms. Each registers 150 to 300 accounts in a row, one every 20 to 90 s, each with
// a new device id and one of two user agents, behind a pool of residential-proxy exits of one country taken in
// sticky sessions of ten minutes.
func (g *generator) farms(count int) {
	for f := range count {
		country := g.w.nets[pick(g.r, g.w.resid)].country
		pool := make([]netip.Addr, farmExits)
		for i := range pool {
			pool[i] = g.exit(country)
		}
		uas := [2]string{g.uat.desktop.pick(g.r), g.uat.mobile.pick(g.r)}
		at := g.measuredTime(8 * 3600)
		ip, session := pool[g.r.IntN(len(pool))], at+stickySeconds
		for i := range 150 + g.r.IntN(151) {
			at += 20 + g.r.Int64N(71)
			if at >= session {
				ip, session = pool[g.r.IntN(len(pool))], at+stickySeconds
			}
			c := fakeRegistration
			if i < farmFirst {
				c = farmFirst20
			}
			d := g.device(fmt.Sprintf("farm-%d-%d", f, i), uas[g.r.IntN(2)])
			g.add(event{at: at * 1e9, typ: features.Registration, ip: ip, user: g.user(fmt.Sprintf("farm-%d-%d", f, i)),
				device: d.id, ua: d.ua, class: c, valid: true, attacker: true})
		}
	}
}

// transactionGoals checks the goals of registrations and card testing.
func transactionGoals(t *tally) []Goal {
	share := func(c class, decisions ...int) (int, float64) {
		d := t.decisions[c]
		n, k := d[0]+d[1]+d[2], 0
		for _, a := range decisions {
			k += d[a]
		}
		return n, pct(k, n)
	}
	const stepUp, deny = 1, 2
	var goals []Goal
	atMost := func(name string, c class, limit float64, decision int) {
		n, m := share(c, decision)
		goals = append(goals, Goal{Name: fmt.Sprintf("%s <= %g %%", name, limit), Events: n, Measured: m, Pass: n > 0 && m <= limit})
	}
	atLeast := func(name string, c class, limit float64) {
		n, m := share(c, stepUp, deny)
		goals = append(goals, Goal{Name: fmt.Sprintf("%s >= %g %%", name, limit), Events: n, Measured: m, Pass: n > 0 && m >= limit})
	}
	atMost("campaign registrations stepped up", campaignSignup, goalCampaignStepUp, stepUp)
	atMost("campaign registrations denied", campaignSignup, goalCampaignDeny, deny)
	atMost("campaign first purchases stepped up", campaignPurchase, goalPurchaseStepUp, stepUp)
	atMost("campaign first purchases denied", campaignPurchase, goalPurchaseDeny, deny)
	atLeast("card testing stepped up or denied", cardTesting, goalCardTesting)
	atLeast(fmt.Sprintf("fake registrations caught after %d", farmFirst), fakeRegistration, goalFakeRegistration)
	return goals
}
