package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/riskd/riskd/features"
)

// event is one login attempt as the identity server would send it, with its label. Identifiers are indexes
// into the generator's tables, which keeps a million events small.
type event struct {
	at       int64 // event time, unix nanoseconds
	ip       netip.Addr
	user     int32 // index in generator.users
	device   int32 // index in generator.devices; -1: no device_id
	ua       int16 // index in generator.uas; -1: no user_agent
	class    class
	valid    bool // the password was right
	attacker bool // decides what the identity server reports after a step-up (MFA passed or failed)

	// Transactions (checkout.go): the event type (0: a login), the amount in the customer's currency
	// (evalCurrencies[currency]), and whether an attacker holds the victim's second factor (passes a step-up).
	typ      features.EventType
	amount   float32
	currency uint8
	phished  bool
	declined bool // a checkout whose payment the bank declines, if it gets that far
}

// generator builds the population and the attacks; one per run, never shared.
type generator struct {
	r     *rand.Rand
	w     *world
	uat   *uaTable
	start int64 // unix seconds: the first day of the warm-up
	split int64 // unix seconds: the first second of the measured period
	end   int64 // unix seconds

	users   []string
	devices []string
	uas     []string
	uaIndex map[string]int16
	people  []person
	events  []event

	spenders map[int32]spender // the customers' spending (checkout.go)
}

// person is a legitimate user.
type person struct {
	user    int32
	kind    class // habitual, travel, familyDevice, mobileCarrier, newPhone or mistypedRetry
	home    int   // residential network of home
	homeIP  netip.Addr
	leases  []lease    // the home's later addresses, as the ISP reassigns them; shared by a household
	work    netip.Addr // another network of the home city
	carrier uint32     // mobileCarrier: the carrier's ASN
	tz      int        // hours east of UTC, from the home's longitude
	hour    int        // usual local hour of logging in
	perDay  float64    // logins per day
	devices []device   // [0] is the phone
	shared  device     // familyDevice: the household's shared device; id -1 when none
	// newPhone: from switch on, the phone is newDevice.
	switchAt  int64
	newDevice device
	trips     []trip
}

type device struct {
	id int32
	ua int16
}

type trip struct {
	leave, back int64 // unix seconds: departure, and return home
	flight      int64 // seconds in the air (or on the road) each way
	net         int   // the hotel's network
	class       class // travel abroad or tripInCountry
}

// lease is an address the ISP gave the home, from a time on.
type lease struct {
	from int64 // unix seconds
	ip   netip.Addr
}

// Population shares of the legitimate behaviours; the rest are habitual.
const (
	shareTravel   = 0.12
	shareFamily   = 0.12
	shareMobile   = 0.14
	shareNewPhone = 0.06
	shareMistyped = 0.06
)

// What changes for everyone now and then, so that a legitimate user is not someone who never changes anything.
const (
	// leaseDays: the mean time a home keeps its address before the ISP hands it another one from its pool;
	// consumer ISPs reassign from every day to every few months.
	leaseDays = 20
	// shareLeaseAway: new addresses the database places in another city of the country.
	shareLeaseAway = 0.1
	// shareAway: logins from the phone on another network of the home city (a café, a friend's, a library).
	shareAway = 0.03
	// shareCleared: logins on a browser that lost its device id (cookies cleared, a private window, a browser
	// that expires script-set cookies within days); the browser keeps the new id afterwards.
	shareCleared = 0.02
	// shareDomestic: a traveller's trips that stay in the home country.
	shareDomestic = 0.4
)

func newGenerator(w *world, uat *uaTable, seed uint64, start time.Time, warmupDays, days int) *generator {
	s := start.Unix()
	return &generator{
		r: rand.New(rand.NewPCG(seed, 0xe7a1)), w: w, uat: uat,
		start: s, split: s + int64(warmupDays)*86400, end: s + int64(warmupDays+days)*86400,
		uaIndex: map[string]int16{},
	}
}

func (g *generator) user(name string) int32 {
	g.users = append(g.users, name)
	return int32(len(g.users) - 1)
}

func (g *generator) device(name string, ua string) device {
	g.devices = append(g.devices, name)
	return device{id: int32(len(g.devices) - 1), ua: g.ua(ua)}
}

func (g *generator) ua(s string) int16 {
	if i, ok := g.uaIndex[s]; ok {
		return i
	}
	g.uas = append(g.uas, s)
	i := int16(len(g.uas) - 1)
	g.uaIndex[s] = i
	return i
}

func (g *generator) add(e event) { g.events = append(g.events, e) }

// population creates n legitimate users and their logins over the whole simulated time.
func (g *generator) population(n int) {
	g.people = make([]person, 0, n)
	for len(g.people) < n {
		var kind class
		switch x := g.r.Float64(); {
		case x < shareTravel:
			kind = travel
		case x < shareTravel+shareFamily:
			kind = familyDevice
		case x < shareTravel+shareFamily+shareMobile:
			kind = mobileCarrier
		case x < shareTravel+shareFamily+shareMobile+shareNewPhone:
			kind = newPhone
		case x < shareTravel+shareFamily+shareMobile+shareNewPhone+shareMistyped:
			kind = mistypedRetry
		default:
			kind = habitual
		}
		if kind == familyDevice {
			g.household(min(2+g.r.IntN(3), n-len(g.people)))
			continue
		}
		g.people = append(g.people, g.person(kind))
	}
	for i := range g.people {
		g.logins(&g.people[i])
	}
}

func (g *generator) person(kind class) person {
	w := g.w
	p := person{user: g.user(fmt.Sprintf("user-%d", len(g.users))), kind: kind, home: pick(g.r, w.resid), shared: device{id: -1}}
	home := &w.nets[p.home]
	p.homeIP = home.addr(g.r)
	p.leases = g.leases(home)
	p.work = w.nets[pick(g.r, w.byCity[home.cityID])].addr(g.r)
	p.tz = int(math.Round(home.lon / 15))
	p.hour = 7 + g.r.IntN(15)
	p.perDay = 0.2 + g.r.ExpFloat64()*0.8
	name := g.users[p.user]
	p.devices = append(p.devices, g.device(name+"-phone", g.uat.mobile.pick(g.r)))
	if g.r.Float64() < 0.7 {
		p.devices = append(p.devices, g.device(name+"-laptop", g.uat.desktop.pick(g.r)))
	}
	if g.r.Float64() < 0.25 {
		p.devices = append(p.devices, g.device(name+"-tablet", g.uat.mobile.pick(g.r)))
	}
	switch kind {
	case mobileCarrier:
		// The carrier is a national ISP of the home country with networks in several places.
		p.carrier = home.asn
		for range 20 {
			n := &w.nets[pick(g.r, w.byCountry[home.country])]
			if len(w.byASN[n.asn]) >= 20 {
				p.carrier = n.asn
				break
			}
		}
	case newPhone:
		p.switchAt = g.split + g.r.Int64N(g.end-g.split)
		p.newDevice = g.device(name+"-newphone", g.uat.mobile.pick(g.r))
	case travel:
		g.plan(&p)
	}
	return p
}

// household creates the n members of a family sharing a home and one tablet; each has a phone of their own.
func (g *generator) household(n int) {
	first := len(g.people)
	for i := range n {
		p := g.person(familyDevice)
		p.devices = p.devices[:1]
		if i > 0 {
			lead := &g.people[first]
			p.home, p.homeIP, p.leases, p.work, p.tz, p.shared = lead.home, lead.homeIP, lead.leases, lead.work, lead.tz, lead.shared
		} else {
			p.shared = g.device(fmt.Sprintf("family-%d-tablet", first), g.uat.mobile.pick(g.r))
		}
		g.people = append(g.people, p)
	}
}

// leases returns the addresses the ISP hands the home after the first one: another of the ISP's networks of the
// home city, as a rule; now and then (shareLeaseAway) one that the database places elsewhere in the country, as
// geolocation does with pools an ISP moves around.
func (g *generator) leases(home *network) []lease {
	var local, national []int
	for _, i := range g.w.byASN[home.asn] {
		switch n := &g.w.nets[i]; {
		case n.cityID == home.cityID:
			local = append(local, i)
		case n.country == home.country:
			national = append(national, i)
		}
	}
	var out []lease
	for at := g.start + int64(g.r.ExpFloat64()*leaseDays*86400); at < g.end; at += int64(g.r.ExpFloat64() * leaseDays * 86400) {
		n := home
		switch {
		case len(national) > 0 && (len(local) == 0 || g.r.Float64() < shareLeaseAway):
			n = &g.w.nets[pick(g.r, national)]
		case len(local) > 0:
			n = &g.w.nets[pick(g.r, local)]
		}
		out = append(out, lease{from: at, ip: n.addr(g.r)})
	}
	return out
}

// plan gives a traveller one to three trips, abroad or to another city of the home country; the journeys take
// as long as a plane needs, so no login is faster than one.
func (g *generator) plan(p *person) {
	w := g.w
	home := &w.nets[p.home]
	n := 1 + g.r.IntN(3)
	span := (g.end - g.start) / int64(n) // one trip per span, so trips never overlap
	for i := range int64(n) {
		c, hotel := travel, -1
		if g.r.Float64() < shareDomestic {
			for range 20 {
				if x := pick(g.r, w.byCountry[home.country]); w.nets[x].cityID != home.cityID {
					c, hotel = tripInCountry, x
					break
				}
			}
		}
		if hotel < 0 {
			hotel = pick(g.r, w.byCountry[w.otherCountry(g.r, home.country)])
		}
		h := &w.nets[hotel]
		km := distanceKm(home.lat, home.lon, h.lat, h.lon)
		flight := int64((km/800 + 1.5) * 3600) // cruise speed, plus the airports
		stay := int64(2+g.r.IntN(8)) * 86400
		leave := g.start + i*span + g.r.Int64N(max(span-stay-2*flight, 1))
		back := leave + flight + stay
		p.trips = append(p.trips, trip{leave: leave, back: back, flight: flight, net: hotel, class: c})
	}
}

// logins writes p's logins: a Poisson number a day around the usual hour, local time.
func (g *generator) logins(p *person) {
	for day := g.start; day < g.end; day += 86400 {
		for range poisson(g.r, p.perDay) {
			local := p.hour + int(math.Round(g.r.NormFloat64()*1.5))
			if g.r.Float64() < 0.15 {
				local = g.r.IntN(24)
			}
			at := day + int64(local-p.tz)*3600 + g.r.Int64N(3600)
			if at < g.start || at >= g.end {
				continue
			}
			g.login(p, at)
		}
	}
}

func (g *generator) login(p *person, at int64) {
	e := event{at: at * 1e9, user: p.user, valid: true, class: habitual}
	di := g.r.IntN(len(p.devices))
	if g.r.Float64() < shareCleared {
		// The browser keeps its user agent and gets a new id, which it keeps from now on.
		old := p.devices[di]
		p.devices[di] = device{id: g.device(fmt.Sprintf("%s-%d", g.users[p.user], len(g.devices)), g.uas[old.ua]).id, ua: old.ua}
		e.class = clearedCookies
	}
	dev := p.devices[di]
	if p.shared.id >= 0 && e.class == habitual && g.r.Float64() < 0.5 {
		dev = p.shared
		e.class = familyDevice
	}
	e.ip = p.homeIP
	for _, l := range p.leases {
		if at >= l.from {
			e.ip = l.ip
		}
	}
	switch x := g.r.Float64(); {
	case x < shareAway && e.class == habitual:
		dev = p.devices[0]
		e.ip = g.w.nets[pick(g.r, g.w.byCity[g.w.nets[p.home].cityID])].addr(g.r)
		e.class = awayFromHome
	case x < shareAway+0.2:
		e.ip = p.work
	}
	switch p.kind {
	case mobileCarrier:
		if dev == p.devices[0] || g.r.Float64() < 0.5 {
			dev = p.devices[0]
			nets := g.w.byASN[p.carrier]
			e.ip = g.w.nets[nets[g.r.IntN(len(nets))]].addr(g.r)
			e.class = mobileCarrier
		}
	case newPhone:
		if dev == p.devices[0] && at >= p.switchAt {
			dev = p.newDevice
			e.class = newPhone
		}
	case travel:
		for _, t := range p.trips {
			switch {
			case at >= t.leave && at < t.leave+t.flight, at >= t.back && at < t.back+t.flight:
				return // in the air
			case at >= t.leave && at < t.back:
				e.ip = g.w.nets[t.net].addr(g.r)
				e.class = t.class
				dev = p.devices[0] // the phone travels
			case at >= t.back && at < t.back+t.flight+86400:
				e.class = t.class // the first day back
			}
		}
	case mistypedRetry:
		if g.r.Float64() < 0.2 {
			wrong := e
			wrong.device, wrong.ua, wrong.valid, wrong.class = dev.id, dev.ua, false, mistyped
			g.add(wrong)
			if g.r.Float64() < 0.3 { // and once more
				wrong.at += int64(5+g.r.IntN(20)) * 1e9
				g.add(wrong)
			}
			e.at = wrong.at + int64(5+g.r.IntN(30))*1e9
			e.class = mistypedRetry
		}
	}
	e.device, e.ua = dev.id, dev.ua
	g.add(e)
}

func poisson(r *rand.Rand, mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
