package main

import (
	"fmt"
	"net/netip"
)

// Shares of the attacks' credentials that work: a stuffing list holds some real users' real passwords.
const (
	stuffingExisting = 0.5  // of the usernames tried: users who exist
	stuffingHit      = 0.05 // of those: the password is still right
)

// attacks adds the attacks, all within the measured period, sized from the n legitimate users, and returns the
// known-bad list: the addresses some attackers use, and others, as a threat feed would list them.
func (g *generator) attacks(n int) (knownBadList []netip.Addr) {
	g.stuffingFewIPs(3, max(300, n/20))
	g.stuffingPool(400, max(1000, n/5))
	g.spraying(25, max(500, n/4))
	// Enough takeovers per class that one miss in a class is well under the 1 % the goal allows.
	per := max(200, n/50)
	g.takeovers(atoForeign, per)
	g.takeovers(atoDomestic, per)
	g.impossibleTravel(per)
	for _, c := range []class{torLogin, vpnLogin, proxyLogin, hostingLogin} {
		g.takeovers(c, per/2)
	}
	g.checkoutAttacks(per)
	return g.knownBad(50, per/2)
}

// measuredTime returns a random event time in the measured period, leaving room after it for a campaign.
func (g *generator) measuredTime(room int64) int64 {
	return g.split + g.r.Int64N(max(g.end-g.split-room, 1))
}

// target returns whom a stuffing attempt tries: a real user, or a name from a leak that is no user here, and
// whether the password is right.
func (g *generator) target() (user int32, valid bool) {
	if g.r.Float64() < stuffingExisting {
		return g.people[g.r.IntN(len(g.people))].user, g.r.Float64() < stuffingHit
	}
	return g.user(fmt.Sprintf("leaked-%d", len(g.users))), false
}

// stuffingClient returns the device and user agent of one stuffing attempt: tools send no device id half of
// the time, a bot's user agent some of the time, a browser's otherwise.
func (g *generator) stuffingClient() (int32, int16) {
	ua := g.uat.desktop.pick(g.r)
	if g.r.Float64() < 0.3 {
		ua = botUserAgents[g.r.IntN(len(botUserAgents))]
	}
	if g.r.Float64() < 0.5 {
		return -1, g.ua(ua)
	}
	d := g.device(fmt.Sprintf("atk-%d", len(g.devices)), ua)
	return d.id, d.ua
}

func (g *generator) stuffingAttempt(at int64, ip netip.Addr, c class) {
	user, valid := g.target()
	dev, ua := g.stuffingClient()
	if valid {
		c = stuffingValid
	}
	g.add(event{at: at, ip: ip, user: user, device: dev, ua: ua, class: c, valid: valid, attacker: true})
}

// stuffingFewIPs: each of ips hosting addresses runs through its part of the list in half an hour.
func (g *generator) stuffingFewIPs(ips, perIP int) {
	for range ips {
		ip := g.w.nets[pick(g.r, g.w.hosting)].addr(g.r)
		start := g.measuredTime(3600) * 1e9
		for range perIP {
			g.stuffingAttempt(start+g.r.Int64N(1800e9), ip, stuffingFewIPs)
		}
	}
}

// stuffingPool: the list spread over three hours and a pool of addresses (a quarter anonymising proxies, the
// rest infected home machines anywhere), so that no address stands out by its numbers.
func (g *generator) stuffingPool(pool, attempts int) {
	addrs := make([]netip.Addr, pool)
	for i := range addrs {
		idx := g.w.resid
		if g.r.Float64() < 0.25 {
			idx = [][]int{g.w.proxy, g.w.vpn, g.w.tor}[g.r.IntN(3)]
		}
		addrs[i] = g.w.nets[pick(g.r, idx)].addr(g.r)
	}
	start := g.measuredTime(4*3600) * 1e9
	for range attempts {
		g.stuffingAttempt(start+g.r.Int64N(3*3600e9), addrs[g.r.IntN(len(addrs))], stuffingPool)
	}
}

// spraying: two common passwords, each tried once on every targeted account over two days, from a few dozen
// addresses. The passwords are wrong for every account here.
func (g *generator) spraying(ips, targets int) {
	addrs := make([]netip.Addr, ips)
	for i := range addrs {
		idx := [][]int{g.w.hosting, g.w.vpn, g.w.resid}[i%3]
		addrs[i] = g.w.nets[pick(g.r, idx)].addr(g.r)
	}
	start := g.measuredTime(5*86400) * 1e9
	users := make([]int32, targets)
	for i := range users {
		users[i], _ = g.target()
	}
	for pass := range int64(2) {
		for _, u := range users {
			at := start + pass*3*86400e9 + g.r.Int64N(2*86400e9)
			g.add(event{at: at, ip: addrs[g.r.IntN(len(addrs))], user: u, device: -1, ua: g.ua(g.uat.desktop.pick(g.r)),
				class: spraying, attacker: true})
		}
	}
}

// takeovers: count logins with the right password, each into another victim, on a device of the attacker's,
// from where the class says.
func (g *generator) takeovers(c class, count int) {
	w := g.w
	for range count {
		p := &g.people[g.r.IntN(len(g.people))]
		home := &w.nets[p.home]
		var net int
		ua := g.uat.desktop.pick(g.r)
		switch c {
		case atoForeign:
			net = pick(g.r, w.byCountry[w.otherCountry(g.r, home.country)])
		case atoDomestic:
			// The victim's country, another ISP: residential proxies are sold by country.
			for range 50 {
				if net = pick(g.r, w.byCountry[home.country]); w.nets[net].asn != home.asn {
					break
				}
			}
		case torLogin:
			net, ua = pick(g.r, w.tor), torBrowser
		case vpnLogin:
			net = pick(g.r, w.vpn)
		case proxyLogin:
			net = pick(g.r, w.proxy)
		case hostingLogin:
			net = pick(g.r, w.hosting)
		}
		d := g.device(fmt.Sprintf("atk-%d", len(g.devices)), ua)
		g.add(event{at: g.measuredTime(0) * 1e9, ip: w.nets[net].addr(g.r), user: p.user, device: d.id, ua: d.ua,
			class: c, valid: true, attacker: true})
	}
}

// impossibleTravel: count logins with the right password 10 to 90 minutes after one of the victim's own, from
// a country at least 5,000 km from the victim's home; half of them replay the victim's device id (a stolen
// session cookie), the others come from a new device.
func (g *generator) impossibleTravel(count int) {
	w := g.w
	owner := make(map[int32]*person, len(g.people))
	for i := range g.people {
		if g.people[i].kind != travel {
			owner[g.people[i].user] = &g.people[i]
		}
	}
	var own []int
	for i := range g.events {
		e := &g.events[i]
		if e.class == habitual && e.at >= g.split*1e9 && e.at < (g.end-2*3600)*1e9 && owner[e.user] != nil {
			own = append(own, i)
		}
	}
	for range min(count, len(own)) {
		victim := g.events[own[g.r.IntN(len(own))]]
		home := &w.nets[owner[victim.user].home]
		far := w.farCountry(g.r, home.lat, home.lon, 5000)
		if far == "" {
			continue
		}
		e := event{at: victim.at + int64(10+g.r.IntN(80))*60e9, ip: w.nets[pick(g.r, w.byCountry[far])].addr(g.r),
			user: victim.user, device: victim.device, ua: victim.ua, class: impossibleTravel, valid: true, attacker: true}
		if g.r.Float64() < 0.5 {
			d := g.device(fmt.Sprintf("atk-%d", len(g.devices)), g.uat.desktop.pick(g.r))
			e.device, e.ua = d.id, d.ua
		}
		g.add(e)
	}
}

// knownBad: count logins with the right password from addresses on a threat feed (home machines anywhere, as
// botnets are); the feed lists those and as many again that this population never sees.
func (g *generator) knownBad(addrs, count int) []netip.Addr {
	w := g.w
	list := make([]netip.Addr, 0, 2*addrs)
	for range 2 * addrs {
		list = append(list, w.nets[pick(g.r, w.resid)].addr(g.r))
	}
	for range count {
		p := &g.people[g.r.IntN(len(g.people))]
		d := g.device(fmt.Sprintf("atk-%d", len(g.devices)), g.uat.desktop.pick(g.r))
		g.add(event{at: g.measuredTime(0) * 1e9, ip: list[g.r.IntN(addrs)], user: p.user, device: d.id, ua: d.ua,
			class: knownBad, valid: true, attacker: true})
	}
	return list
}
