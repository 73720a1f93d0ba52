package server

import (
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
		key, ascii, ok := s.string()
		if !ok || !ascii {
			return false
		}
		s.space()
		if !s.take(':') {
			return false
		}
		s.space()
		switch string(key) {
		case "type":
			var t string
			if t, ok = s.field(32); ok && t != "" {
				ev.Type, hasType = features.ParseEventType(t)
				ok = hasType
			} else {
				ev.Type, hasType = 0, false
			}
		case "user_id":
			ev.UserID, ok = s.field(maxIDLen)
		case "ip":
			var ip string
			if ip, ok = s.field(64); ok {
				var ae *apiError
				ev.IP, ae = parseIP(ip)
				ok = ae == nil
			}
		case "device_id":
			ev.DeviceID, ok = s.field(maxIDLen)
		case "user_agent":
			ev.UserAgent, ok = s.field(maxUserAgentLen)
		case "tenant":
			ev.Tenant, ok = s.field(maxTenantLen)
			ok = ok && validTenant(ev.Tenant)
		case "timestamp":
			var ts string
			if ts, ok = s.field(64); ok {
				ev.Time = 0
				if ts != "" {
					var ae *apiError
					ev.Time, ae = parseTimestamp(ts)
					ok = ae == nil
				}
			}
		case "session_id":
			ev.SessionID, ok = s.field(maxIDLen)
		case "event_id":
			ev.EventID, ok = s.field(maxIDLen)
		case "channel":
			ev.Channel, ok = s.field(32)
			ok = ok && (ev.Channel == "" || features.ValidChannel(ev.Channel))
		case "currency":
			ev.Currency, ok = s.field(3)
			ok = ok && (ev.Currency == "" || validCurrency(ev.Currency))
		case "mfa_preference":
			var pref string
			if pref, ok = s.field(16); ok && pref != "" {
				ev.MFAPreference, ok = features.ParseMFAPreference(pref)
			}
		case "credentials_valid":
			ev.CredentialsValid, ev.HasCredentials, ok = s.bool()
		case "amount":
			ok = s.amount(ev)
		case "attributes":
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
	if !s.take('"') {
		return nil, false, false
	}
	start := s.i
	s.i += jsonenc.StringRun(s.b[s.i:])
	if s.i >= len(s.b) {
		return nil, false, false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		s.i++
		return s.b[start : s.i-1], true, true
	case c == '\\' || c < 0x20:
		return nil, false, false
	}
	// Non-ASCII, or DEL: the field checks will look at it byte by byte, so find the end the same way.
	for ; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '"':
			s.i++
			return s.b[start : s.i-1], false, true
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
