package geo

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// Hand-written cursor decoders for the three record schemas. They exist
// because the request path wants only ~10 of the ~60 values a GeoIP2-City
// record holds (8 languages of names for continent, country, registered
// country, city and subdivisions): reflection decoding into small tagged
// structs, or geoip2-golang's generated decoders for the full models, spend
// most of their time and allocations on values riskd throws away (figures in
// geo_timing_test.go). Each decoder writes into the caller's Info, and reads
// names as views of the data section (readName) instead of copying them, so
// decoding allocates nothing; unknown keys are skipped without being decoded,
// which for the usual pointer-shared sub-maps is a few bytes of header
// reading.
//
// Size limits on strings keep a damaged database from handing riskd's rules
// and logs megabyte-long names; they are far above any real value, and let a
// cache slot store a name's length in 16 bits (nameRef).
const (
	maxCodeLen = 16   // ISO country or subdivision code
	maxNameLen = 1024 // city name, AS organisation (same limit as geoip2-golang)
)

// Errors of a name that readName refuses; counted like any damaged record.
var (
	errNameKind  = errors.New("name is not a string")
	errNameRange = errors.New("name runs past the data section")
	errNameLen   = errors.New("name too long")
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

// readName reads the string at c as a view of data, the data section c's
// decoder reads: maxminddb's ReadString copies it (or takes it from a bounded
// cache of copies), an allocation on most misses of the lookup cache. data is
// never written (see DB), so the view stays valid for as long as it is held.
func readName(c mmdbdata.Cursor, data []byte, maxLen uint) (string, mmdbdata.Cursor, error) {
	at, err := c.Offset() // the string's control byte, through a pointer if c is one
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	next, err := c.Skip()
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	if at >= uint(len(data)) || mmdbdata.Kind(data[at]>>5) != mmdbdata.KindString {
		return "", mmdbdata.Cursor{}, errNameKind
	}
	// The MaxMind DB format's size encoding: 0-28 in the control byte, else
	// 29, 30 or 31 there and the size in the next 1, 2 or 3 bytes.
	size, start := uint(data[at]&0x1f), at+1
	if size >= 29 {
		extra := size - 28
		if extra > uint(len(data))-start {
			return "", mmdbdata.Cursor{}, errNameRange
		}
		var v uint
		for _, b := range data[start : start+extra] {
			v = v<<8 | uint(b)
		}
		size = [...]uint{29, 285, 65821}[extra-1] + v
		start += extra
	}
	if size > maxLen {
		return "", mmdbdata.Cursor{}, errNameLen
	}
	if size > uint(len(data))-start {
		return "", mmdbdata.Cursor{}, errNameRange
	}
	if size == 0 {
		return "", next, nil
	}
	return unsafe.String(&data[start], size), next, nil
}

// decodeCity decodes the GeoIP2/GeoLite2-City schema fields riskd needs
// from the record at c into r:
//
//	country.iso_code, subdivisions[0].iso_code, city.geoname_id,
//	city.names.en, location.{latitude,longitude,accuracy_radius}
func decodeCity(c mmdbdata.Cursor, data []byte, r *Info) error {
	_, err := eachField(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		switch string(key) {
		case "country":
			return readISOCode(v, data, &r.Country)
		case "subdivisions":
			return readFirstSubdivision(v, data, r)
		case "city":
			return readCity(v, data, r)
		case "location":
			return readLocation(v, r)
		default:
			return v.Skip()
		}
	})
	return err
}

// readISOCode reads the iso_code of a country or subdivision map into dst.
func readISOCode(c mmdbdata.Cursor, data []byte, dst *string) (mmdbdata.Cursor, error) {
	return eachField(c, func(key []byte, v mmdbdata.Cursor) (next mmdbdata.Cursor, err error) {
		if string(key) != "iso_code" {
			return v.Skip()
		}
		*dst, next, err = readName(v, data, maxCodeLen)
		return next, err
	})
}

// readFirstSubdivision keeps only the largest subdivision (England, not West
// Berkshire): rules compare regions, and the smaller ones are too unstable
// between database builds to be worth a field.
func readFirstSubdivision(c mmdbdata.Cursor, data []byte, r *Info) (mmdbdata.Cursor, error) {
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
			next, err = readISOCode(v, data, &r.Region)
		} else {
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return items.End()
}

func readCity(c mmdbdata.Cursor, data []byte, r *Info) (mmdbdata.Cursor, error) {
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
				r.City, next, err = readName(v, data, maxNameLen)
				return next, err
			})
		default:
			return v.Skip()
		}
	})
}

func readLocation(c mmdbdata.Cursor, r *Info) (mmdbdata.Cursor, error) {
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

// decodeASN decodes the GeoLite2-ASN schema (also a subset of GeoIP2-ISP)
// from the record at c into r: autonomous_system_number and
// autonomous_system_organization.
func decodeASN(c mmdbdata.Cursor, data []byte, r *Info) error {
	_, err := eachField(c, func(key []byte, v mmdbdata.Cursor) (next mmdbdata.Cursor, err error) {
		switch string(key) {
		case "autonomous_system_number":
			var asn uint64
			asn, next, err = v.ReadUint()
			r.ASN = clampUint32(asn)
			return next, err
		case "autonomous_system_organization":
			r.ASOrg, next, err = readName(v, data, maxNameLen)
			return next, err
		default:
			return v.Skip()
		}
	})
	return err
}

// decodeAnonymous decodes the GeoIP2-Anonymous-IP schema flags from the
// record at c into r.
func decodeAnonymous(c mmdbdata.Cursor, r *Info) error {
	_, err := eachField(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
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
	return err
}

// clampUint32 keeps an out-of-range id from wrapping to a plausible small
// one; no real ASN or GeoNames id comes near the limit.
func clampUint32(v uint64) uint32 {
	return uint32(min(v, 0xffffffff))
}
