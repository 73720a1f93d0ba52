package geo

import (
	"fmt"

	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// Hand-written cursor decoders for the three record schemas. They exist
// because the request path wants only ~10 of the ~60 values a GeoIP2-City
// record holds (8 languages of names for continent, country, registered
// country, city and subdivisions): reflection decoding into small tagged
// structs, or geoip2-golang's generated decoders for the full models, spend
// most of their time and allocations on values riskd throws away (figures in
// geo_timing_test.go). Each decoder writes into the Info that will be cached,
// so decoding adds no allocation of its own; unknown keys are skipped without
// being decoded, which for the usual pointer-shared sub-maps is a few bytes of
// header reading.
//
// Size limits on strings keep a damaged database from making riskd copy
// megabytes into its cache; they are far above any real value.
const (
	maxCodeLen = 16   // ISO country or subdivision code
	maxNameLen = 1024 // city name, AS organisation (same limit as geoip2-golang)
)

// cityRecord decodes the GeoIP2/GeoLite2-City schema fields riskd needs:
//
//	country.iso_code, subdivisions[0].iso_code, city.geoname_id,
//	city.names.en, location.{latitude,longitude,accuracy_radius}
type cityRecord Info

// asnRecord decodes the GeoLite2-ASN schema (also a subset of GeoIP2-ISP):
// autonomous_system_number and autonomous_system_organization.
type asnRecord Info

// anonymousRecord decodes the GeoIP2-Anonymous-IP schema flags.
type anonymousRecord Info

var (
	_ mmdbdata.CursorUnmarshaler = (*cityRecord)(nil)
	_ mmdbdata.CursorUnmarshaler = (*asnRecord)(nil)
	_ mmdbdata.CursorUnmarshaler = (*anonymousRecord)(nil)
)

// eachField walks the map at c and hands each key and value cursor to field,
// which must return the value's successor (Skip for keys it ignores).
// The key aliases the database; field must not keep it.
func eachField(c mmdbdata.Cursor, field func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error)) (mmdbdata.Cursor, error) {
	entries, err := c.MapReader()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	next := entries.First()
	for range entries.Len() {
		key, v, err := next.ReadMapKey()
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
		next, err = field(key, v)
		if err != nil {
			return mmdbdata.Cursor{}, fmt.Errorf("field %q: %w", key, err)
		}
	}
	return entries.End(next)
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler.
func (r *cityRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return eachField(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		switch string(key) {
		case "country":
			return readISOCode(v, &r.Country)
		case "subdivisions":
			return r.readFirstSubdivision(v)
		case "city":
			return r.readCity(v)
		case "location":
			return r.readLocation(v)
		default:
			return v.Skip()
		}
	})
}

// readISOCode reads the iso_code of a country or subdivision map into dst.
func readISOCode(c mmdbdata.Cursor, dst *string) (mmdbdata.Cursor, error) {
	return eachField(c, func(key []byte, v mmdbdata.Cursor) (next mmdbdata.Cursor, err error) {
		if string(key) != "iso_code" {
			return v.Skip()
		}
		*dst, next, err = v.ReadStringMaxSize(maxCodeLen)
		return next, err
	})
}

// readFirstSubdivision keeps only the largest subdivision (England, not West
// Berkshire): rules compare regions, and the smaller ones are too unstable
// between database builds to be worth a field.
func (r *cityRecord) readFirstSubdivision(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	items, err := c.SliceMaxSize(32)
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		i, v, ok := items.Next(next)
		if !ok {
			break
		}
		if i == 0 {
			next, err = readISOCode(v, &r.Region)
		} else {
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return items.End()
}

func (r *cityRecord) readCity(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return eachField(c, func(key []byte, v mmdbdata.Cursor) (next mmdbdata.Cursor, err error) {
		switch string(key) {
		case "geoname_id":
			var id uint64
			id, next, err = v.ReadUint()
			r.CityID = clampUint32(id)
			return next, err
		case "names":
			return eachField(v, func(key []byte, v mmdbdata.Cursor) (next mmdbdata.Cursor, err error) {
				if string(key) != "en" {
					return v.Skip()
				}
				r.City, next, err = v.ReadStringMaxSize(maxNameLen)
				return next, err
			})
		default:
			return v.Skip()
		}
	})
}

func (r *cityRecord) readLocation(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	var hasLat, hasLon bool
	next, err := eachField(c, func(key []byte, v mmdbdata.Cursor) (next mmdbdata.Cursor, err error) {
		switch string(key) {
		case "latitude":
			hasLat = true
			r.Lat, next, err = v.ReadFloat()
			return next, err
		case "longitude":
			hasLon = true
			r.Lon, next, err = v.ReadFloat()
			return next, err
		case "accuracy_radius":
			var km uint64
			km, next, err = v.ReadUint()
			r.RadiusKm = uint16(min(km, 0xffff))
			return next, err
		default:
			return v.Skip()
		}
	})
	// (0, 0) is a real place in the Gulf of Guinea, so presence, not value,
	// says whether the record has coordinates.
	r.HasLocation = hasLat && hasLon
	return next, err
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler.
func (r *asnRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return eachField(c, func(key []byte, v mmdbdata.Cursor) (next mmdbdata.Cursor, err error) {
		switch string(key) {
		case "autonomous_system_number":
			var asn uint64
			asn, next, err = v.ReadUint()
			r.ASN = clampUint32(asn)
			return next, err
		case "autonomous_system_organization":
			r.ASOrg, next, err = v.ReadStringMaxSize(maxNameLen)
			return next, err
		default:
			return v.Skip()
		}
	})
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler.
func (r *anonymousRecord) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return eachField(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		var dst *bool
		switch string(key) {
		case "is_anonymous":
			dst = &r.Anonymous
		case "is_anonymous_vpn":
			dst = &r.VPN
		case "is_tor_exit_node":
			dst = &r.Tor
		case "is_hosting_provider":
			dst = &r.Hosting
		case "is_public_proxy":
			dst = &r.PublicProxy
		case "is_residential_proxy":
			dst = &r.ResidentialProxy
		default:
			return v.Skip()
		}
		flag, next, err := v.ReadBool()
		*dst = flag
		return next, err
	})
}

// clampUint32 keeps an out-of-range id from wrapping to a plausible small
// one; no real ASN or GeoNames id comes near the limit.
func clampUint32(v uint64) uint32 {
	return uint32(min(v, 0xffffffff))
}
