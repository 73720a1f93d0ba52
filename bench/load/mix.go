package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
)

// MixConfig is the traffic mix. Shares are of all events; what the shares leave is successful logins of
// returning users, the bulk of an identity server's traffic.
type MixConfig struct {
	Users     int     // population of returning users, each with one or two habitual devices and a home IP
	HomeDemo  float64 // share of users whose home IP is in bench/geogen's demo networks (geo hits); the rest get random public IPv4
	Failed    float64 // legitimate users mistyping their password (credentials_valid false)
	Checkout  float64 // checkouts with an amount
	Travel    float64 // legitimate users logging in from somewhere new (a random public IP)
	Attack    float64 // credential stuffing: failed logins for many users, some not existing, from a few IPs
	Spray     float64 // key spraying: never-repeating user ids, IPs and device ids (the soak profile)
	AttackIPs int     // addresses the stuffing comes from
	// The pools the mix's newcomers are drawn from (0: defaultPool). A campaign brings existing customers and a
	// stuffing tool that rotates what it has: every population is bounded, so that once the priming sweep
	// (AppendPrime) has been sent, the server's state tables hold every key the mix will ever send, and memory
	// that grows afterwards is the server's, not the workload's. A pool is large against what one user sees,
	// so a user's travel address is still new to that user, and a stuffed id or fingerprint is not seen again
	// for tens of seconds.
	TravelIPs      int    // public addresses the logins from somewhere new come from
	StuffedUsers   int    // made-up user ids the stuffing tries (the rest of its attempts are real users)
	StuffedDevices int    // device fingerprints the stuffing tool rotates
	Seed           uint64 // the population: same seed, same users
	Nonce          uint64 // makes sprayed ids unique across runs against the same server
}

// defaultPool is the size of a newcomers' pool left at 0: 16,384 addresses, ids or fingerprints. At 28,000/s
// each member comes back every 20-40 s (travel 2 %, stuffing 5 % of which 30 % made-up ids and 50 %
// fingerprints), and the priming sweep covers all three pools in a few seconds.
const defaultPool = 16_384

// eventKind is what an event in the mix stands for; the report counts them.
type eventKind uint8

const (
	kindLogin eventKind = iota
	kindFailed
	kindCheckout
	kindTravel
	kindAttack
	kindSpray
	numKinds
)

func (k eventKind) String() string {
	return [...]string{"login", "failed_login", "checkout", "travel", "stuffing", "spray"}[k]
}

// Mix builds /v1/decide request bodies for a population of users. It appends JSON by hand into the caller's
// buffer: no reflection and, once the buffer has grown, no allocation per request, so that the generator is
// not what limits throughput. Users' devices, home IPs, browsers and brands are derived from a hash of the
// user number, so a population of millions costs no memory. Safe for concurrent use; each caller brings its
// own *rand.Rand.
type Mix struct {
	cfg       MixConfig
	ua        *uaTable
	homes     []network
	attackIPs []uint32
	attackUAs []*userAgent
	cut       [numKinds]float64 // kind k is drawn when a uniform x < cut[k]
	sprayed   atomic.Uint64
}

func newMix(cfg MixConfig, ua *uaTable) (*Mix, error) {
	if cfg.Users < 1 {
		return nil, errors.New("mix: at least one user")
	}
	if cfg.AttackIPs < 1 {
		cfg.AttackIPs = 1
	}
	for _, n := range []*int{&cfg.TravelIPs, &cfg.StuffedUsers, &cfg.StuffedDevices} {
		if *n < 1 {
			*n = defaultPool
		}
	}
	shares := [numKinds]float64{kindFailed: cfg.Failed, kindCheckout: cfg.Checkout, kindTravel: cfg.Travel,
		kindAttack: cfg.Attack, kindSpray: cfg.Spray}
	var other float64
	for k, s := range shares {
		if s < 0 || s > 1 {
			return nil, fmt.Errorf("mix: share of %v is %g, want 0..1", eventKind(k), s)
		}
		other += s
	}
	if other > 1 {
		return nil, fmt.Errorf("mix: shares add up to %g, more than 1", other)
	}
	if cfg.HomeDemo < 0 || cfg.HomeDemo > 1 {
		return nil, fmt.Errorf("mix: home-demo share %g, want 0..1", cfg.HomeDemo)
	}
	shares[kindLogin] = 1 - other
	m := &Mix{cfg: cfg, ua: ua, homes: demoHomeNetworks()}
	var c float64
	for k := range shares {
		c += shares[k]
		m.cut[k] = c
	}
	m.cut[numKinds-1] = 2 // rounding must never leave x above the last cut
	// Half the stuffing addresses are in the demo set's anonymous networks (hosting, Tor, proxies), half are
	// plain public addresses (residential proxies look like that).
	attack := demoAttackNetworks()
	for i := range cfg.AttackIPs {
		h := mix64(cfg.Seed ^ 0xa77ac4 ^ uint64(i)<<32)
		if i%2 == 0 {
			m.attackIPs = append(m.attackIPs, pickNetwork(attack, h).host(mix64(h)))
		} else {
			m.attackIPs = append(m.attackIPs, publicIPv4(h))
		}
	}
	// Stuffing tools rotate a handful of common browser strings.
	for i := range 4 {
		m.attackUAs = append(m.attackUAs, ua.pick(mix64(cfg.Seed^0x5ca1ab1e^uint64(i))))
	}
	return m, nil
}

// kind draws the kind of the next event.
func (m *Mix) kind(rng *rand.Rand) eventKind {
	x := rng.Float64()
	for k := range numKinds {
		if x < m.cut[k] {
			return k
		}
	}
	return kindLogin
}

// Append appends one request body to dst and says what kind of event it is.
func (m *Mix) Append(dst []byte, rng *rand.Rand) ([]byte, eventKind) {
	k := m.kind(rng)
	switch k {
	case kindAttack:
		return m.appendStuffing(dst, rng), k
	case kindSpray:
		return m.appendSpray(dst, rng), k
	}
	u := uint64(rng.IntN(m.cfg.Users))
	h := m.userHash(u)
	slot := 1 + rng.IntN(devicesOf(h))
	ip := m.home(h)
	if k == kindTravel {
		ip = m.travelIP(rng.IntN(m.cfg.TravelIPs))
	}
	return m.appendUserEvent(dst, k, u, h, slot, ip, rng), k
}

// userHash is what user u's habits are derived from.
func (m *Mix) userHash(u uint64) uint64 { return mix64(m.cfg.Seed ^ mix64(u)) }

// devicesOf is how many habitual devices the user with hash h has: one or two.
func devicesOf(h uint64) int { return 1 + int(h>>8&1) }

// appendUserEvent appends an event of kind k (a login, failed login, checkout or travel) by user u, whose
// hash is h, from device slot (1 or 2) and address ip. rng draws a checkout's amount; nil (the priming sweep)
// means 50.00, not a small checkout, so that priming adds no small-checkout counts.
func (m *Mix) appendUserEvent(dst []byte, k eventKind, u, h uint64, slot int, ip uint32, rng *rand.Rand) []byte {
	// Each device has its own browser.
	dev := mix64(h ^ uint64(slot)*0x9e3779b97f4a7c15)
	ua := m.ua.pick(mix64(dev))

	typ := "login"
	if k == kindCheckout {
		typ = "checkout"
	}
	dst = appendHead(dst, typ)
	dst = append(dst, "u"...)
	dst = strconv.AppendUint(dst, u, 10)
	dst = append(dst, `","ip":"`...)
	dst = appendIPv4(dst, ip)
	dst = append(dst, `","device_id":"`...)
	dst = appendHex(dst, dev)
	dst = append(dst, `","user_agent":`...)
	dst = append(dst, ua.json...)
	if ua.mobile {
		dst = append(dst, `,"channel":"mobile","tenant":"`...)
	} else {
		dst = append(dst, `,"channel":"web","tenant":"`...)
	}
	dst = append(dst, brand(h)...)
	dst = append(dst, '"')
	switch k {
	case kindCheckout:
		cents := 5000
		if rng != nil {
			cents = 500 + rng.IntN(49_500)
		}
		dst = append(dst, `,"amount":`...)
		dst = strconv.AppendInt(dst, int64(cents/100), 10)
		dst = append(dst, '.', byte('0'+cents%100/10), byte('0'+cents%10))
		dst = append(dst, `,"currency":"`...)
		dst = append(dst, currency(h)...)
		return append(dst, `"}`...)
	case kindFailed:
		return append(dst, `,"credentials_valid":false}`...)
	default:
		return append(dst, `,"credentials_valid":true}`...)
	}
}

// travelIP is address j of the travel pool: a public address that no user has at home, except by chance.
func (m *Mix) travelIP(j int) uint32 { return publicIPv4(mix64(m.cfg.Seed ^ 0x7ea7e1 ^ uint64(j)<<24)) }

// stuffedUser is made-up user id j of the stuffing's pool (after the 'x').
func (m *Mix) stuffedUser(j int) uint64 { return mix64(m.cfg.Seed ^ 0x5bad05e7 ^ uint64(j)<<24) }

// stuffedDevice is fingerprint j of the stuffing tool's pool.
func (m *Mix) stuffedDevice(j int) uint64 { return mix64(m.cfg.Seed ^ 0xf1a9e7 ^ uint64(j)<<32) }

// PrimeLen is the length of the priming sweep: one request for each of the mix's keys (AppendPrime).
func (m *Mix) PrimeLen() int {
	n := m.primedPerUser() * m.cfg.Users
	if m.cut[kindTravel] > m.cut[kindCheckout] {
		n += m.cfg.TravelIPs
	}
	if m.cut[kindAttack] > m.cut[kindTravel] {
		n += max(m.cfg.StuffedUsers, m.cfg.StuffedDevices)
	}
	return n
}

// primedPerUser is how many requests of the priming sweep each user makes: a login with each device slot,
// and a checkout with each when the mix has checkouts (riskd counts checkouts under keys of their own).
func (m *Mix) primedPerUser() int {
	if m.cut[kindCheckout] > m.cut[kindFailed] {
		return 4
	}
	return 2
}

// AppendPrime appends request i (0 <= i < PrimeLen) of the priming sweep: a login of every user from home
// with each of their devices (a user with one device logs in twice with it) and, when the mix has checkouts, a
// checkout with each too; a login from every travel address (by users in turn); and a failed stuffing attempt
// with every made-up user id and every fingerprint of the stuffing's pools. Sent before the measurements, it
// brings the server's state to the size the mix keeps it at; the sprayed keys (-spray) are unbounded by
// design and are not primed.
func (m *Mix) AppendPrime(dst []byte, i int) []byte {
	if per := m.primedPerUser(); i < per*m.cfg.Users {
		u, r := uint64(i/per), i%per
		h := m.userHash(u)
		slot := 1 + r%2%devicesOf(h)
		k := kindLogin
		if r >= 2 {
			k = kindCheckout
		}
		return m.appendUserEvent(dst, k, u, h, slot, m.home(h), nil)
	}
	i -= m.primedPerUser() * m.cfg.Users
	if m.cut[kindTravel] > m.cut[kindCheckout] {
		if i < m.cfg.TravelIPs {
			u := uint64(i % m.cfg.Users)
			h := m.userHash(u)
			return m.appendUserEvent(dst, kindTravel, u, h, 1, m.travelIP(i), nil)
		}
		i -= m.cfg.TravelIPs
	}
	dst = appendHead(dst, "login")
	if i < m.cfg.StuffedUsers {
		dst = append(dst, 'x')
		dst = appendHex(dst, m.stuffedUser(i))
	} else {
		dst = append(dst, 'u')
		dst = strconv.AppendUint(dst, uint64(i%m.cfg.Users), 10)
	}
	dst = append(dst, `","ip":"`...)
	dst = appendIPv4(dst, m.attackIPs[i%len(m.attackIPs)])
	if i < m.cfg.StuffedDevices {
		dst = append(dst, `","device_id":"`...)
		dst = appendHex(dst, m.stuffedDevice(i))
	}
	dst = append(dst, `","user_agent":`...)
	dst = append(dst, m.attackUAs[i%len(m.attackUAs)].json...)
	return append(dst, `,"channel":"web","credentials_valid":false}`...)
}

// home is the user's usual address.
func (m *Mix) home(h uint64) uint32 {
	if float64(h>>16&0xffff) < m.cfg.HomeDemo*0x10000 {
		return pickNetwork(m.homes, mix64(h^1)).host(mix64(h ^ 2))
	}
	return publicIPv4(mix64(h ^ 3))
}

// appendStuffing is one credential-stuffing attempt: a known or made-up user, one of a few addresses, a
// rotated browser string, a fingerprint from the tool's pool or none, and almost always a wrong password.
func (m *Mix) appendStuffing(dst []byte, rng *rand.Rand) []byte {
	dst = appendHead(dst, "login")
	if rng.IntN(10) < 7 {
		dst = append(dst, 'u')
		dst = strconv.AppendUint(dst, uint64(rng.IntN(m.cfg.Users)), 10)
	} else {
		dst = append(dst, 'x')
		dst = appendHex(dst, m.stuffedUser(rng.IntN(m.cfg.StuffedUsers)))
	}
	dst = append(dst, `","ip":"`...)
	dst = appendIPv4(dst, m.attackIPs[rng.IntN(len(m.attackIPs))])
	if rng.IntN(2) == 0 {
		dst = append(dst, `","device_id":"`...)
		dst = appendHex(dst, m.stuffedDevice(rng.IntN(m.cfg.StuffedDevices)))
	}
	dst = append(dst, `","user_agent":`...)
	dst = append(dst, m.attackUAs[rng.IntN(len(m.attackUAs))].json...)
	if rng.IntN(100) == 0 {
		return append(dst, `,"channel":"web","credentials_valid":true}`...)
	}
	return append(dst, `,"channel":"web","credentials_valid":false}`...)
}

// appendSpray is a login whose user id, IP and device id never occurred before in this run (nor, through
// the nonce, in earlier runs): what fills every table of a server that does not bound them.
func (m *Mix) appendSpray(dst []byte, rng *rand.Rand) []byte {
	n := m.sprayed.Add(1) - 1
	dst = appendHead(dst, "login")
	dst = append(dst, 's')
	dst = appendHex(dst, m.cfg.Nonce)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, n, 10)
	dst = append(dst, `","ip":"`...)
	dst = appendIPv4(dst, sprayIPv4(m.cfg.Nonce%(1<<27)+n))
	dst = append(dst, `","device_id":"`...)
	dst = appendHex(dst, mix64(m.cfg.Nonce^n))
	dst = append(dst, `","user_agent":`...)
	dst = append(dst, m.ua.pick(rng.Uint64()).json...)
	if rng.IntN(10) < 7 {
		return append(dst, `,"channel":"web","credentials_valid":true}`...)
	}
	return append(dst, `,"channel":"web","credentials_valid":false}`...)
}

// appendHead opens a body up to the user id's value.
func appendHead(dst []byte, typ string) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	return append(dst, `","user_id":"`...)
}

func brand(h uint64) string {
	switch r := h >> 40 % 10; {
	case r < 6:
		return "brand-a"
	case r < 9:
		return "brand-b"
	default:
		return "brand-c"
	}
}

func currency(h uint64) string {
	switch r := h >> 48 % 10; {
	case r < 5:
		return "EUR"
	case r < 8:
		return "USD"
	default:
		return "GBP"
	}
}

func appendHex(dst []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, digits[v>>uint(shift)&0xf])
	}
	return dst
}

// mix64 is splitmix64's finaliser: a cheap bijection that spreads any input over 64 bits, so per-user facts
// can be derived from a user's number instead of stored.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
