package main

import "fmt"

// The demo set: small databases that let a developer run riskd and curl it
// without downloading anything from MaxMind.
//
// Two groups of networks:
//
//  1. The answers of MaxMind's own test databases for the addresses riskd's
//     tests use (../shared/README.md), same networks, same values, so a test
//     table written against MaxMind's files also holds against these:
//
//     81.2.69.142     London, GB (ENG) 51.5142,-0.0931 r10 km   (81.2.69.142/31)
//     2.125.160.216   Boxford, GB (ENG) 51.75,-1.25 r100 km     (2.125.160.216/29)
//     89.160.20.112   Linköping, SE (E) 58.4167,15.6167 r76 km  AS29518 Bredband2 AB
//     216.160.83.56   Milton, US (WA) 47.2513,-122.3149 r22 km  AS209
//     175.16.199.1    Changchun, CN (22) 43.88,125.3228 r100 km (175.16.199.0/24)
//     67.43.156.1     BT, no city, r534 km                      AS35908
//     1.0.0.1         AS15169 Google Inc.; 1.128.0.1 AS1221 Telstra Pty Ltd;
//     12.81.92.1      AS7018 AT&T Services
//     81.2.69.0/24    anonymous with every flag (so 81.2.69.142 is not clean)
//     1.2.0.0/16      anonymous VPN; 1.124.213.1 VPN and Tor exit
//     65.0.0.0/13     Tor exit; 71.160.223.0/24 hosting; 186.30.236.0/24 public proxy
//     2001:480:3a::/64, abcd:1000::/112  public proxy
//     8.8.8.8         nothing anywhere
//
//  2. Loopback and documentation ranges (RFC 5737, RFC 3849), so requests
//     from curl on the developer's machine and examples in docs resolve:
//
//     127.0.0.0/8, ::1    Paris, FR (IDF)        AS3215 Orange S.A.      clean
//     192.0.2.0/24        Berlin, DE (BE)        AS3320 Deutsche Telekom clean
//     198.51.100.0/25     New York, US (NY)      AS7922 Comcast          clean
//     198.51.100.128/25   Amsterdam, NL (NH)     AS60068 Datacamp        Tor exit
//     203.0.113.0/25      Sydney, AU (NSW)       AS1221 Telstra          clean
//     203.0.113.128/25    Singapore, SG          AS9009 M247             VPN + hosting
//     2001:db8::/48       Tokyo, JP (13)         AS4713 NTT              clean
//
//     Private ranges (10/8, 172.16/12, 192.168/16) stay unknown, as in real
//     databases.

type cityEntry struct {
	network string
	place   place
}

type asnEntry struct {
	network string
	as      autonomousSystem
}

type anonymousEntry struct {
	network string
	anon    anonymity
}

// cityNamed returns the cities entry called name; the table is small and
// this runs a dozen times per generation.
func cityNamed(name string) *city {
	for i := range cities {
		if cities[i].name == name {
			return &cities[i]
		}
	}
	panic("geogen: no city " + name) // a typo in the tables below
}

// at is the place of a table city, with an accuracy radius.
func at(name string, radiusKm uint16) place {
	c := cityNamed(name)
	return place{city: c, country: c.country, lat: c.lat, lon: c.lon, tz: c.tz, radiusKm: radiusKm, postal: c.postal}
}

func asNumbered(n uint32) autonomousSystem {
	for _, as := range autonomousSystems {
		if as.number == n {
			return as
		}
	}
	panic(fmt.Sprint("geogen: no AS ", n))
}

func demoCity() []cityEntry {
	london := at("London", 10)
	london.lat, london.lon, london.registered, london.postal = 51.5142, -0.0931, "US", ""
	boxford := at("Boxford", 100)
	boxford.registered = "FR"
	linkoping := at("Linköping", 76)
	linkoping.registered, linkoping.postal = "DE", ""
	milton := at("Milton", 22)
	milton.registered, milton.metroCode = "GB", 819
	changchun := at("Changchun", 100)
	changchun.postal = ""
	bhutan := place{country: "BT", registered: "RO", lat: 27.5, lon: 90.5, tz: "Asia/Thimphu", radiusKm: 534}

	return []cityEntry{
		{"81.2.69.142/31", london},
		{"2.125.160.216/29", boxford},
		{"89.160.20.112/28", linkoping},
		{"216.160.83.56/29", milton},
		{"175.16.199.0/24", changchun},
		{"67.43.156.0/24", bhutan},

		{"127.0.0.0/8", at("Paris", 20)},
		{"::1/128", at("Paris", 20)},
		{"192.0.2.0/24", at("Berlin", 20)},
		{"198.51.100.0/25", at("New York", 10)},
		{"198.51.100.128/25", at("Amsterdam", 50)},
		{"203.0.113.0/25", at("Sydney", 20)},
		{"203.0.113.128/25", at("Singapore", 50)},
		{"2001:db8::/48", at("Tokyo", 50)},
	}
}

func demoASN() []asnEntry {
	return []asnEntry{
		{"89.160.20.112/29", autonomousSystem{number: 29518, org: "Bredband2 AB"}},
		{"216.160.83.56/29", autonomousSystem{number: 209}},
		{"67.43.156.0/26", autonomousSystem{number: 35908}},
		{"1.0.0.0/24", autonomousSystem{number: 15169, org: "Google Inc."}},
		{"1.128.0.0/11", autonomousSystem{number: 1221, org: "Telstra Pty Ltd"}},
		{"12.81.92.0/22", autonomousSystem{number: 7018, org: "AT&T Services"}},

		{"127.0.0.0/8", asNumbered(3215)},
		{"::1/128", asNumbered(3215)},
		{"192.0.2.0/24", asNumbered(3320)},
		{"198.51.100.0/25", asNumbered(7922)},
		{"198.51.100.128/25", asNumbered(60068)},
		{"203.0.113.0/25", asNumbered(1221)},
		{"203.0.113.128/25", asNumbered(9009)},
		{"2001:db8::/48", asNumbered(4713)},
	}
}

func demoAnonymous() []anonymousEntry {
	all := anonymity{vpn: true, tor: true, hosting: true, publicProxy: true, residentialProxy: true}
	return []anonymousEntry{
		{"1.2.0.0/16", anonymity{vpn: true}},
		{"1.124.213.1/32", anonymity{vpn: true, tor: true}},
		{"81.2.69.0/24", all},
		{"71.160.223.0/24", anonymity{hosting: true}},
		{"186.30.236.0/24", anonymity{publicProxy: true}},
		{"65.0.0.0/13", anonymity{tor: true}},
		{"abcd:1000::/112", anonymity{publicProxy: true}},
		{"2001:480:3a::/64", anonymity{publicProxy: true}},

		{"198.51.100.128/25", anonymity{tor: true}},
		{"203.0.113.128/25", anonymity{vpn: true, hosting: true}},
	}
}
