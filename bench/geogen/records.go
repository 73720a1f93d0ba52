package main

import (
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Record layouts follow MaxMind's GeoIP2-City, GeoLite2-ASN and
// GeoIP2-Anonymous-IP files key for key and type for type (geoname_id
// uint32, accuracy_radius and metro_code uint16, coordinates double, flags
// present only when true), so anything that reads MaxMind's files reads these.

// languages are the locales of GeoIP2-City's names maps. The generated names
// repeat the English one in every locale: what matters to a reader is the
// record's shape and size, not the translation.
var languages = []string{"de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN"}

// place is one City-schema answer.
type place struct {
	city       *city  // nil for a country-level record (no city, no subdivision)
	country    string // ISO code, a key of countries
	registered string // registered_country ISO code; "" = same as country
	lat, lon   float64
	tz         string
	radiusKm   uint16
	postal     string // "" = no postal record
	metroCode  uint16 // US only; 0 = none
}

// anonymity is one Anonymous-IP answer; the zero value means "not listed".
type anonymity struct {
	vpn, tor, hosting, publicProxy, residentialProxy bool
}

func (a anonymity) listed() bool { return a != anonymity{} }

func names(s string) mmdbtype.Map {
	m := make(mmdbtype.Map, len(languages))
	for _, l := range languages {
		m[mmdbtype.String(l)] = mmdbtype.String(s)
	}
	return m
}

func countryMap(iso string) mmdbtype.Map {
	c := countries[iso]
	m := mmdbtype.Map{
		"geoname_id": mmdbtype.Uint32(c.id),
		"iso_code":   mmdbtype.String(c.iso),
		"names":      names(c.name),
	}
	if c.eu {
		m["is_in_european_union"] = mmdbtype.Bool(true)
	}
	return m
}

func cityRecord(p place) mmdbtype.Map {
	cont := continents[countries[p.country].continent]
	registered := p.registered
	if registered == "" {
		registered = p.country
	}
	location := mmdbtype.Map{
		"accuracy_radius": mmdbtype.Uint16(p.radiusKm),
		"latitude":        mmdbtype.Float64(p.lat),
		"longitude":       mmdbtype.Float64(p.lon),
		"time_zone":       mmdbtype.String(p.tz),
	}
	if p.metroCode != 0 {
		location["metro_code"] = mmdbtype.Uint16(p.metroCode)
	}
	m := mmdbtype.Map{
		"continent": mmdbtype.Map{
			"code":       mmdbtype.String(cont.code),
			"geoname_id": mmdbtype.Uint32(cont.id),
			"names":      names(cont.name),
		},
		"country":            countryMap(p.country),
		"location":           location,
		"registered_country": countryMap(registered),
	}
	if p.city != nil {
		m["city"] = mmdbtype.Map{
			"geoname_id": mmdbtype.Uint32(p.city.id),
			"names":      names(p.city.name),
		}
		if s := p.city.sub; s.iso != "" {
			m["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{
				"geoname_id": mmdbtype.Uint32(s.id),
				"iso_code":   mmdbtype.String(s.iso),
				"names":      names(s.name),
			}}
		}
	}
	if p.postal != "" {
		m["postal"] = mmdbtype.Map{"code": mmdbtype.String(p.postal)}
	}
	return m
}

func asnRecord(as autonomousSystem) mmdbtype.Map {
	m := mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(as.number)}
	if as.org != "" {
		m["autonomous_system_organization"] = mmdbtype.String(as.org)
	}
	return m
}

func anonymousRecord(a anonymity) mmdbtype.Map {
	m := mmdbtype.Map{"is_anonymous": mmdbtype.Bool(true)}
	for key, set := range map[mmdbtype.String]bool{
		"is_anonymous_vpn":     a.vpn,
		"is_tor_exit_node":     a.tor,
		"is_hosting_provider":  a.hosting,
		"is_public_proxy":      a.publicProxy,
		"is_residential_proxy": a.residentialProxy,
	} {
		if set {
			m[key] = mmdbtype.Bool(true)
		}
	}
	return m
}
