package server

import (
	"math"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/internal/jsonenc"
)

// Bounds on request strings. They keep one request's cost and what it can make riskd hold small.
const (
	maxIDLen        = 256  // user_id, device_id, session_id, event_id, evaluation_id
	maxUserAgentLen = 1024 // real user agents are a few hundred bytes
	maxTenantLen    = 64
	maxAttrKeyLen   = 64
	maxAttrValueLen = 256
	maxAmount       = 1e12
)

// b2s returns a string that aliases b. Request strings alias the request body or the pooled parser's memory
// and live only as long as the request: nothing downstream keeps them (package features hashes what it stores).
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// decodeObject parses body as a JSON object.
func decodeObject(p *fastjson.Parser, body []byte) (*fastjson.Object, *apiError) {
	if len(body) == 0 {
		return nil, badField("invalid_json", "", "empty body; send a JSON object")
	}
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, badField("invalid_json", "", "the body is not valid JSON: %v", err)
	}
	o, err := v.Object()
	if err != nil {
		return nil, badField("invalid_json", "", "the body must be a JSON object")
	}
	return o, nil
}

// fieldString returns v as a string of at most maxLen bytes of valid UTF-8 with no control characters.
// JSON null reads as absent ("").
func fieldString(v *fastjson.Value, field string, maxLen int) (string, *apiError) {
	if v.Type() == fastjson.TypeNull {
		return "", nil
	}
	b, err := v.StringBytes()
	if err != nil {
		return "", badField("invalid_type", field, "%s must be a string", field)
	}
	return checkString(b, field, maxLen)
}

// checkString returns b as a string if it is at most maxLen bytes of valid UTF-8 with no control characters.
func checkString(b []byte, field string, maxLen int) (string, *apiError) {
	if len(b) > maxLen {
		return "", badField("too_long", field, "%s is longer than %d bytes", field, maxLen)
	}
	if jsonenc.PrintableASCII(b) { // nearly every field: ids, addresses, user agents
		return b2s(b), nil
	}
	if !utf8.Valid(b) {
		return "", badField("invalid_string", field, "%s is not valid UTF-8", field)
	}
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return "", badField("invalid_string", field, "%s contains control characters", field)
		}
	}
	return b2s(b), nil
}

func fieldIP(v *fastjson.Value) (netip.Addr, *apiError) {
	s, ae := fieldString(v, "ip", 64)
	if ae != nil {
		return netip.Addr{}, ae
	}
	return parseIP(s)
}

// parseIP parses a request's address: IPv4 or IPv6 without zone, an IPv4-mapped IPv6 address read as IPv4.
func parseIP(s string) (netip.Addr, *apiError) {
	if s == "" {
		return netip.Addr{}, badField("missing_field", "ip", "ip is required")
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, badField("invalid_ip", "ip", "ip must be an IPv4 or IPv6 address without zone")
	}
	return a.Unmap(), nil
}

func fieldTime(v *fastjson.Value) (int64, *apiError) {
	s, ae := fieldString(v, "timestamp", 64)
	if ae != nil || s == "" {
		return 0, ae
	}
	return parseTimestamp(s)
}

// parseTimestamp parses a non-empty RFC 3339 timestamp into unix nanoseconds.
func parseTimestamp(s string) (int64, *apiError) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, badField("invalid_timestamp", "timestamp", "timestamp must be RFC 3339, e.g. 2026-01-02T15:04:05Z")
	}
	// UnixNano is defined for years 1678-2262; the engine's skew and retention checks do the rest.
	if y := t.Year(); y < 1970 || y > 2200 {
		return 0, badField("invalid_timestamp", "timestamp", "timestamp is out of range")
	}
	return t.UnixNano(), nil
}

func fieldBool(v *fastjson.Value, field string) (val, present bool, ae *apiError) {
	switch v.Type() {
	case fastjson.TypeNull:
		return false, false, nil
	case fastjson.TypeTrue:
		return true, true, nil
	case fastjson.TypeFalse:
		return false, true, nil
	}
	return false, false, badField("invalid_type", field, "%s must be true or false", field)
}

// tenant names are used in rules, metrics and logs: keep them to a safe alphabet.
func validTenant(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func fieldTenant(v *fastjson.Value) (string, *apiError) {
	s, ae := fieldString(v, "tenant", maxTenantLen)
	if ae != nil {
		return "", ae
	}
	if !validTenant(s) {
		return "", badField("invalid_tenant", "tenant", "tenant may hold only letters, digits, '_', '-' and '.'")
	}
	return s, nil
}

// subjectFields points at the fields a decision and an outcome share: who, from where, when.
type subjectFields struct {
	userID, deviceID, userAgent, tenant *string
	ip                                  *netip.Addr
	ipOptional                          bool // JSON null reads as absent
	time                                *int64
}

// field decodes key into its field when it is one of the shared ones; ok is false for any other key.
func (s *subjectFields) field(key []byte, v *fastjson.Value) (ok bool, ae *apiError) {
	switch string(key) {
	case "user_id":
		*s.userID, ae = fieldString(v, "user_id", maxIDLen)
	case "ip":
		if !s.ipOptional || v.Type() != fastjson.TypeNull {
			*s.ip, ae = fieldIP(v)
		}
	case "device_id":
		*s.deviceID, ae = fieldString(v, "device_id", maxIDLen)
	case "user_agent":
		*s.userAgent, ae = fieldString(v, "user_agent", maxUserAgentLen)
	case "tenant":
		*s.tenant, ae = fieldTenant(v)
	case "timestamp":
		*s.time, ae = fieldTime(v)
	default:
		return false, nil
	}
	return true, ae
}

// fieldType decodes the "type" field with parse; a missing type is reported by the caller.
func fieldType[T any](v *fastjson.Value, parse func(string) (T, bool), want string) (t T, present bool, ae *apiError) {
	s, ae := fieldString(v, "type", 32)
	if ae != nil || s == "" {
		return t, false, ae
	}
	if t, present = parse(s); !present {
		return t, false, badField("invalid_type", "type", "%s", want)
	}
	return t, true, nil
}

// decodeDecide decodes and validates a /v1/decide body into ev, which must be reset. Unknown fields are
// refused: a misspelt field would otherwise be silently ignored and change the decision.
//
// A body is read once, straight into ev, by scanDecide. A body it does not take (every refused one, and the
// rare valid forms it leaves out, such as strings with escapes) is decoded again through a fastjson tree,
// which gives every event the scan gives and names the field of every error.
func decodeDecide(p *fastjson.Parser, body []byte, ev *features.Event) *apiError {
	if scanDecide(body, ev) {
		return nil
	}
	ev.Reset()
	return decodeDecideTree(p, body, ev)
}

// decodeDecideTree is decodeDecide through a fastjson tree: the general path, and the reference scanDecide is
// held to (FuzzScanDecide).
func decodeDecideTree(p *fastjson.Parser, body []byte, ev *features.Event) *apiError {
	o, ae := decodeObject(p, body)
	if ae != nil {
		return ae
	}
	var hasType bool
	subject := subjectFields{userID: &ev.UserID, ip: &ev.IP, deviceID: &ev.DeviceID, userAgent: &ev.UserAgent,
		tenant: &ev.Tenant, time: &ev.Time}
	o.Visit(func(key []byte, v *fastjson.Value) {
		if ae != nil {
			return
		}
		if ok, err := subject.field(key, v); ok {
			ae = err
			return
		}
		switch string(key) {
		case "type":
			ev.Type, hasType, ae = fieldType(v, features.ParseEventType, wantEventType)
		case "session_id":
			ev.SessionID, ae = fieldString(v, "session_id", maxIDLen)
		case "event_id":
			ev.EventID, ae = fieldString(v, "event_id", maxIDLen)
		case "channel":
			if ev.Channel, ae = fieldString(v, "channel", 32); ae == nil && ev.Channel != "" && !features.ValidChannel(ev.Channel) {
				ae = badField("invalid_channel", "channel", "channel must be one of web, mobile, store, call_center, api")
			}
		case "amount":
			ae = decodeAmount(v, ev)
		case "currency":
			if ev.Currency, ae = fieldString(v, "currency", 3); ae == nil && ev.Currency != "" && !validCurrency(ev.Currency) {
				ae = badField("invalid_currency", "currency", "currency must be an ISO 4217 code such as EUR")
			}
		case "mfa_preference":
			var s string
			if s, ae = fieldString(v, "mfa_preference", 16); ae == nil && s != "" {
				var ok bool
				if ev.MFAPreference, ok = features.ParseMFAPreference(s); !ok {
					ae = badField("invalid_mfa_preference", "mfa_preference", "mfa_preference must be always, sensitive or adaptive")
				}
			}
		case "credentials_valid":
			ev.CredentialsValid, ev.HasCredentials, ae = fieldBool(v, "credentials_valid")
		case "attributes":
			ae = decodeAttributes(v, ev)
		default:
			ae = badField("unknown_field", string(key), "unknown field %q", key)
		}
	})
	if ae != nil {
		return ae
	}
	switch {
	case !hasType:
		return badField("missing_field", "type", "type is required")
	case !ev.IP.IsValid():
		return badField("missing_field", "ip", "ip is required")
	case ev.UserID == "" && ev.Type != features.Registration:
		return badField("missing_field", "user_id", "user_id is required for %s events", ev.Type)
	case ev.HasAmount && ev.Currency == "":
		return badField("missing_field", "currency", "currency is required with amount")
	case !ev.HasAmount && ev.Currency != "":
		return badField("missing_field", "amount", "amount is required with currency")
	}
	if ev.Tenant == "" {
		ev.Tenant = defaultTenant
	}
	return nil
}

const defaultTenant = "default"

// wantEventType is what an invalid decide type is told.
const wantEventType = "type must be one of login, registration, password_reset, checkout, payment_method_change, profile_change"

func decodeAmount(v *fastjson.Value, ev *features.Event) *apiError {
	f, has, ae := fieldAmount(v)
	ev.Amount, ev.HasAmount = f, has
	return ae
}

// maxAmountDecimals bounds the digits after an amount's decimal point, and maxAmountDigits all its significant
// digits: currencies have at most 3 minor digits, and more is a float printed carelessly (12.300000000000001) or
// a probe; beyond 15 digits a float64 no longer holds the number that was written.
const (
	maxAmountDecimals = 6
	maxAmountDigits   = 15
)

// fieldAmount decodes an amount: a number from 0 to maxAmount with at most maxAmountDecimals decimals and
// maxAmountDigits significant digits. JSON null reads as absent.
func fieldAmount(v *fastjson.Value) (float64, bool, *apiError) {
	if v.Type() == fastjson.TypeNull {
		return 0, false, nil
	}
	return checkAmount(v.Float64())
}

// checkAmount checks a parsed amount (err is the parser's) against the API's bounds.
func checkAmount(f float64, err error) (float64, bool, *apiError) {
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > maxAmount {
		return 0, false, badField("invalid_amount", "amount", "amount must be a number from 0 to %g", float64(maxAmount))
	}
	if !plainAmount(f) {
		return 0, false, badField("invalid_amount", "amount", "amount must have at most %d decimals and %d digits, e.g. 19.99", maxAmountDecimals, maxAmountDigits)
	}
	return f, true, nil
}

// plainAmount reports whether the shortest decimal that reads back as f has at most maxAmountDecimals decimals
// and maxAmountDigits significant digits. The number's text is not at hand without allocating (fastjson keeps
// it private), and the shortest form of the parsed value is what the text said, up to float64 precision.
func plainAmount(f float64) bool {
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, 'f', -1, 64)
	digits, decimals, dot, leading := 0, 0, false, true
	for _, c := range b {
		switch {
		case c == '.':
			dot = true
		case c == '0' && leading:
			if dot {
				decimals++
			}
		default:
			leading = false
			digits++
			if dot {
				decimals++
			}
		}
	}
	return decimals <= maxAmountDecimals && digits <= maxAmountDigits
}

func validCurrency(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z'
}

func decodeAttributes(v *fastjson.Value, ev *features.Event) *apiError {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	o, err := v.Object()
	if err != nil {
		return badField("invalid_type", "attributes", "attributes must be an object of strings")
	}
	if o.Len() > features.MaxAttributes {
		return badField("too_many_attributes", "attributes", "at most %d attributes", features.MaxAttributes)
	}
	var ae *apiError
	ev.NumAttributes = 0
	o.Visit(func(key []byte, v *fastjson.Value) {
		if ae != nil {
			return
		}
		if len(key) == 0 || len(key) > maxAttrKeyLen || !utf8.Valid(key) {
			ae = badField("invalid_attribute", "attributes", "attribute names must be 1 to %d bytes of UTF-8", maxAttrKeyLen)
			return
		}
		var val string
		if val, ae = fieldString(v, "attributes", maxAttrValueLen); ae != nil {
			return
		}
		if err := features.ValidAttribute(b2s(key), val); err != nil {
			ae = badField("invalid_attribute", "attributes."+string(key), "%v", err)
			return
		}
		ev.Attributes[ev.NumAttributes] = features.Attribute{Key: b2s(key), Value: val}
		ev.NumAttributes++
	})
	return ae
}

// decodeOutcome decodes and validates a /v1/events body into o.
func decodeOutcome(p *fastjson.Parser, body []byte, o *features.Outcome) *apiError {
	obj, ae := decodeObject(p, body)
	if ae != nil {
		return ae
	}
	var hasType bool
	// An outcome may omit its address (a password change reported by a back office).
	subject := subjectFields{userID: &o.UserID, ip: &o.IP, ipOptional: true, deviceID: &o.DeviceID,
		userAgent: &o.UserAgent, tenant: &o.Tenant, time: &o.Time}
	obj.Visit(func(key []byte, v *fastjson.Value) {
		if ae != nil {
			return
		}
		if ok, err := subject.field(key, v); ok {
			ae = err
			return
		}
		switch string(key) {
		case "type":
			o.Type, hasType, ae = fieldType(v, features.ParseOutcomeType,
				"type must be one of login_succeeded, login_failed, mfa_passed, mfa_failed, password_changed, fraud_confirmed, legit_confirmed, checkout_completed, chargeback, payment_declined")
		case "amount":
			o.Amount, o.HasAmount, ae = fieldAmount(v)
		case "currency":
			if o.Currency, ae = fieldString(v, "currency", 3); ae == nil && o.Currency != "" && !validCurrency(o.Currency) {
				ae = badField("invalid_currency", "currency", "currency must be an ISO 4217 code such as EUR")
			}
		case "evaluation_id":
			if o.EvaluationID, ae = fieldString(v, "evaluation_id", maxIDLen); ae == nil && !engine.ValidEvaluationID(o.EvaluationID) {
				ae = badField("invalid_evaluation_id", "evaluation_id", "evaluation_id must be the evaluation_id of a decision: up to 16 hexadecimal digits")
			}
		default:
			ae = badField("unknown_field", string(key), "unknown field %q", key)
		}
	})
	if ae != nil {
		return ae
	}
	if !hasType {
		return badField("missing_field", "type", "type is required")
	}
	if o.UserID == "" {
		return badField("missing_field", "user_id", "user_id is required")
	}
	switch {
	case (o.HasAmount || o.Currency != "") && o.Type != features.CheckoutCompleted && o.Type != features.Chargeback:
		return badField("unexpected_field", "amount", "amount and currency belong to checkout_completed and chargeback outcomes only")
	case o.HasAmount && o.Currency == "":
		return badField("missing_field", "currency", "currency is required with amount")
	case !o.HasAmount && o.Currency != "":
		return badField("missing_field", "amount", "amount is required with currency")
	case o.Type == features.CheckoutCompleted && !o.HasAmount:
		return badField("missing_field", "amount", "checkout_completed needs the amount paid and its currency")
	}
	if o.Tenant == "" {
		o.Tenant = defaultTenant
	}
	return nil
}
