package server

import (
	"encoding/binary"
	"net/netip"

	"github.com/valyala/fastjson/fastfloat"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/internal/jsonenc"
)

// scanDecide decodes a /v1/decide body in one pass, straight into ev (reset), and reports whether it did. It
// takes only what it can take exactly as the fastjson path would, so that every body it takes decodes there
// to the same event: a flat object of the known fields, strings without escapes, the amount a number. Anything
// else, errors included, it leaves to decodeDecideTree, which reports them; ev is then to be reset.
//
// It is the request path's decoder because the general one walks every body twice (a tree first, then the
// fields) and copies it; this one reads each byte once, the plain ASCII of strings eight bytes at a time.
func scanDecide(body []byte, ev *features.Event) bool {
	s := bodyScanner{b: body}
	s.space()
	if !s.take('{') {
		return false
	}
	var hasType bool
	for {
		s.space()
		key := s.key()
		s.space()
		if !s.take(':') {
			return false
		}
		s.space()
		var ok bool
		switch key {
		case keyType:
			var t string
			if t, ok = s.field(32); ok && t != "" {
				ev.Type, hasType = features.ParseEventType(t)
				ok = hasType
			} else {
				ev.Type, hasType = 0, false
			}
		case keyUserID:
			ev.UserID, ok = s.field(maxIDLen)
		case keyIP:
			var ip string
			if ip, ok = s.field(64); ok {
				if ev.IP, ok = scanIPv4(ip); !ok {
					var ae *apiError
					ev.IP, ae = parseIP(ip)
					ok = ae == nil
				}
			}
		case keyDeviceID:
			ev.DeviceID, ok = s.field(maxIDLen)
		case keyUserAgent:
			ev.UserAgent, ok = s.field(maxUserAgentLen)
		case keyTenant:
			ev.Tenant, ok = s.field(maxTenantLen)
			ok = ok && validTenant(ev.Tenant)
		case keyTimestamp:
			var ts string
			if ts, ok = s.field(64); ok {
				ev.Time = 0
				if ts != "" {
					if ev.Time, ok = scanTimestamp(ts); !ok {
						var ae *apiError
						ev.Time, ae = parseTimestamp(ts)
						ok = ae == nil
					}
				}
			}
		case keySessionID:
			ev.SessionID, ok = s.field(maxIDLen)
		case keyEventID:
			ev.EventID, ok = s.field(maxIDLen)
		case keyChannel:
			ev.Channel, ok = s.field(32)
			ok = ok && (ev.Channel == "" || features.ValidChannel(ev.Channel))
		case keyCurrency:
			ev.Currency, ok = s.field(3)
			ok = ok && (ev.Currency == "" || validCurrency(ev.Currency))
		case keyMFAPreference:
			var pref string
			if pref, ok = s.field(16); ok && pref != "" {
				ev.MFAPreference, ok = features.ParseMFAPreference(pref)
			}
		case keyCredentialsValid:
			ev.CredentialsValid, ev.HasCredentials, ok = s.bool()
		case keyAmount:
			ok = s.amount(ev)
		case keyAttributes:
			ok = s.attributes(ev)
		default:
			return false
		}
		if !ok {
			return false
		}
		s.space()
		if s.take(',') {
			continue
		}
		if !s.take('}') {
			return false
		}
		break
	}
	s.space()
	if s.i != len(s.b) {
		return false
	}
	switch {
	case !hasType, !ev.IP.IsValid(),
		ev.UserID == "" && ev.Type != features.Registration,
		ev.HasAmount != (ev.Currency != ""):
		return false
	}
	if ev.Tenant == "" {
		ev.Tenant = defaultTenant
	}
	return true
}

// decideKey is a field of a decide body.
type decideKey uint8

const (
	keyOther decideKey = iota // not a field's name as the scan matches them: unknown, or written with escapes
	keyType
	keyUserID
	keyIP
	keyDeviceID
	keyUserAgent
	keyTenant
	keyTimestamp
	keySessionID
	keyEventID
	keyChannel
	keyCurrency
	keyMFAPreference
	keyCredentialsValid
	keyAmount
	keyAttributes
)

// key consumes an object key that names a decide field, quotes included, and returns the field; keyOther, and
// nothing consumed, for any other key. Each name is compared as a constant, which the compiler turns into a
// word or two of loads, not scanned. (An inlined helper taking the name, the same compare written once, measured
// 140 instructions more a body in BenchmarkDecodeDecide: 4,472 against 4,612.)
func (s *bodyScanner) key() decideKey {
	b := s.b[s.i:]
	if len(b) < 2 || b[0] != '"' {
		return keyOther
	}
	b = b[1:]
	k, n := keyOther, 0
	switch b[0] {
	case 't':
		switch {
		case len(b) >= len(`type"`) && string(b[:len(`type"`)]) == `type"`:
			k, n = keyType, len(`type"`)
		case len(b) >= len(`timestamp"`) && string(b[:len(`timestamp"`)]) == `timestamp"`:
			k, n = keyTimestamp, len(`timestamp"`)
		case len(b) >= len(`tenant"`) && string(b[:len(`tenant"`)]) == `tenant"`:
			k, n = keyTenant, len(`tenant"`)
		}
	case 'u':
		switch {
		case len(b) >= len(`user_id"`) && string(b[:len(`user_id"`)]) == `user_id"`:
			k, n = keyUserID, len(`user_id"`)
		case len(b) >= len(`user_agent"`) && string(b[:len(`user_agent"`)]) == `user_agent"`:
			k, n = keyUserAgent, len(`user_agent"`)
		}
	case 'i':
		if len(b) >= len(`ip"`) && string(b[:len(`ip"`)]) == `ip"` {
			k, n = keyIP, len(`ip"`)
		}
	case 'd':
		if len(b) >= len(`device_id"`) && string(b[:len(`device_id"`)]) == `device_id"` {
			k, n = keyDeviceID, len(`device_id"`)
		}
	case 's':
		if len(b) >= len(`session_id"`) && string(b[:len(`session_id"`)]) == `session_id"` {
			k, n = keySessionID, len(`session_id"`)
		}
	case 'e':
		if len(b) >= len(`event_id"`) && string(b[:len(`event_id"`)]) == `event_id"` {
			k, n = keyEventID, len(`event_id"`)
		}
	case 'c':
		switch {
		case len(b) >= len(`credentials_valid"`) && string(b[:len(`credentials_valid"`)]) == `credentials_valid"`:
			k, n = keyCredentialsValid, len(`credentials_valid"`)
		case len(b) >= len(`channel"`) && string(b[:len(`channel"`)]) == `channel"`:
			k, n = keyChannel, len(`channel"`)
		case len(b) >= len(`currency"`) && string(b[:len(`currency"`)]) == `currency"`:
			k, n = keyCurrency, len(`currency"`)
		}
	case 'm':
		if len(b) >= len(`mfa_preference"`) && string(b[:len(`mfa_preference"`)]) == `mfa_preference"` {
			k, n = keyMFAPreference, len(`mfa_preference"`)
		}
	case 'a':
		switch {
		case len(b) >= len(`amount"`) && string(b[:len(`amount"`)]) == `amount"`:
			k, n = keyAmount, len(`amount"`)
		case len(b) >= len(`attributes"`) && string(b[:len(`attributes"`)]) == `attributes"`:
			k, n = keyAttributes, len(`attributes"`)
		}
	}
	if k != keyOther {
		s.i += 1 + n
	}
	return k
}

// bodyScanner reads a JSON body from its start, one token at a time. Its methods report false for anything
// the scan does not take; the scan then stops.
type bodyScanner struct {
	b []byte
	i int
}

// space skips JSON whitespace.
func (s *bodyScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\n', '\t', '\r':
			s.i++
		default:
			return
		}
	}
}

// take consumes c if it is the next byte.
func (s *bodyScanner) take(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// literal consumes word if it comes next and ends there (a delimiter or the end follows).
func (s *bodyScanner) literal(word string) bool {
	end := s.i + len(word)
	if end > len(s.b) || string(s.b[s.i:end]) != word || end < len(s.b) && !delimiter(s.b[end]) {
		return false
	}
	s.i = end
	return true
}

// delimiter reports whether c may follow a value inside an object.
func delimiter(c byte) bool {
	return c == ',' || c == '}' || c == ' ' || c == '\n' || c == '\t' || c == '\r'
}

// string consumes a string without escapes and returns its contents; ascii reports that they are all printable
// ASCII, which every field check accepts as text. A string with an escape or a raw control character is not
// taken: the escapes are the general decoder's, and the control characters an error.
func (s *bodyScanner) string() (v []byte, ascii, ok bool) {
	b, i := s.b, s.i // in registers: the loop below is the decoder's hottest
	if i >= len(b) || b[i] != '"' {
		return nil, false, false
	}
	i++
	start := i
	for {
		if i+8 > len(b) {
			i += jsonenc.StringRun(b[i:])
			break
		}
		if m := jsonenc.StringEnds(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			i += jsonenc.FirstMarked(m)
			break
		}
		i += 8
	}
	if i >= len(b) {
		return nil, false, false
	}
	switch c := b[i]; {
	case c == '"':
		s.i = i + 1
		return b[start:i], true, true
	case c == '\\' || c < 0x20:
		return nil, false, false
	}
	// Non-ASCII, or DEL: the field checks will look at it byte by byte, so find the end the same way.
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			s.i = i + 1
			return b[start:i], false, true
		case '\\':
			return nil, false, false
		}
	}
	return nil, false, false
}

// field consumes a string field of at most maxLen bytes of UTF-8 without control characters, or null (read as
// absent, ""), as fieldString checks one.
func (s *bodyScanner) field(maxLen int) (string, bool) {
	if s.i < len(s.b) && s.b[s.i] == 'n' {
		return "", s.literal("null")
	}
	v, ascii, ok := s.string()
	if !ok || len(v) > maxLen {
		return "", false
	}
	if ascii {
		return b2s(v), true
	}
	str, ae := checkString(v, "", maxLen)
	return str, ae == nil
}

// bool consumes true, false or null, as fieldBool reads them.
func (s *bodyScanner) bool() (val, present, ok bool) {
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case 't':
			return true, true, s.literal("true")
		case 'f':
			return false, true, s.literal("false")
		case 'n':
			return false, false, s.literal("null")
		}
	}
	return false, false, false
}

// amount consumes an amount or null into ev, as decodeAmount does. A number's text is delimited as fastjson
// delimits it and parsed by the same function, so both paths read the same value from it.
func (s *bodyScanner) amount(ev *features.Event) bool {
	if s.i < len(s.b) && s.b[s.i] == 'n' {
		ev.Amount, ev.HasAmount = 0, false
		return s.literal("null")
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		if c := s.b[s.i]; !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+') {
			break
		}
	}
	if s.i == start || s.i < len(s.b) && !delimiter(s.b[s.i]) {
		return false // not a number, or one fastjson may read as inf or nan
	}
	f, has, ae := checkAmount(fastfloat.Parse(b2s(s.b[start:s.i])))
	ev.Amount, ev.HasAmount = f, has
	return ae == nil
}

// attributes consumes the attributes object (of strings) or null into ev, as decodeAttributes does.
func (s *bodyScanner) attributes(ev *features.Event) bool {
	if s.i < len(s.b) && s.b[s.i] == 'n' {
		return s.literal("null")
	}
	if !s.take('{') {
		return false
	}
	ev.NumAttributes = 0
	s.space()
	if s.take('}') {
		return true
	}
	for {
		s.space()
		key, _, ok := s.string()
		if !ok || len(key) == 0 || len(key) > maxAttrKeyLen || ev.NumAttributes == features.MaxAttributes {
			return false
		}
		s.space()
		if !s.take(':') {
			return false
		}
		s.space()
		val, ok := s.field(maxAttrValueLen)
		if !ok || features.ValidAttribute(b2s(key), val) != nil {
			return false
		}
		ev.Attributes[ev.NumAttributes] = features.Attribute{Key: b2s(key), Value: val}
		ev.NumAttributes++
		s.space()
		if s.take(',') {
			continue
		}
		return s.take('}')
	}
}

// scanIPv4 parses the dotted quad "a.b.c.d" (decimal octets without leading zeros), as netip.ParseAddr parses it,
// at a fraction of its cost; ok is false for any other text, IPv6 included, which parseIP then reads.
func scanIPv4(s string) (ip netip.Addr, ok bool) {
	var a [4]byte
	field, digits, v := 0, 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if digits == 1 && v == 0 { // a leading zero
				return netip.Addr{}, false
			}
			v = v*10 + int(c-'0')
			digits++
			if v > 255 {
				return netip.Addr{}, false
			}
		case c == '.' && digits > 0 && field < 3:
			a[field] = byte(v)
			field, digits, v = field+1, 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if field != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	a[3] = byte(v)
	return netip.AddrFrom4(a), true
}

// scanTimestamp parses the form nearly every client sends, "2006-01-02T15:04:05Z" with a year from 1970 to
// 2200, into unix nanoseconds, as parseTimestamp would; ok is false for any other text (fractions of a second,
// offsets, errors), which parseTimestamp then reads. time.Parse costs a few hundred instructions more.
func scanTimestamp(s string) (unixNano int64, ok bool) {
	if len(s) != len("2006-01-02T15:04:05Z") ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return 0, false
	}
	// A byte below '0' wraps around in the subtraction, so "<= 9" is the digit test.
	y1, y2, y3, y4 := s[0]-'0', s[1]-'0', s[2]-'0', s[3]-'0'
	mo1, mo2, d1, d2 := s[5]-'0', s[6]-'0', s[8]-'0', s[9]-'0'
	h1, h2, mi1, mi2, s1, s2 := s[11]-'0', s[12]-'0', s[14]-'0', s[15]-'0', s[17]-'0', s[18]-'0'
	if max(y1, y2, y3, y4, mo1, mo2, d1, d2, h1, h2, mi1, mi2, s1, s2) > 9 {
		return 0, false
	}
	year := int(y1)*1000 + int(y2)*100 + int(y3)*10 + int(y4)
	month, day := int(mo1)*10+int(mo2), int(d1)*10+int(d2)
	hour, minute, second := int(h1)*10+int(h2), int(mi1)*10+int(mi2), int(s1)*10+int(s2)
	if year < 1970 || year > 2200 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || second > 59 {
		return 0, false
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+second)
	return secs * 1e9, true
}

// daysIn returns the number of days in month of year, in the proleptic Gregorian calendar.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days from 1970-01-01 to the date, for years from 1970 on (Howard Hinnant's
// days_from_civil: years counted from March, so the leap day ends the year).
func daysFromCivil(year, month, day int) int64 {
	if month <= 2 {
		year--
	}
	era := year / 400
	yoe := year - era*400
	mp := (month + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097+doe) - 719468
}
