package decisionlog

import (
	"strconv"
	"time"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/internal/jsonenc"
	"github.com/riskd/riskd/rules"
)

// MaxFired bounds the fired rules a record lists; a decision that fired more lists the first MaxFired.
const MaxFired = 32

// shortString holds a short client-supplied string by value, so a Record owns it without allocating.
type shortString struct {
	b [64]byte
	n uint8
}

func (s *shortString) set(v string) { s.n = uint8(copy(s.b[:], v)) }

// String returns the held string.
func (s *shortString) String() string { return string(s.b[:s.n]) }

// Record is one logged decision. It is a plain value: copying it into the queue allocates nothing.
type Record struct {
	Time         int64 // event time, unix nanoseconds
	EvaluationID uint64
	UserKey      uint64 // keyed hash of the user id (0 for an anonymous registration)
	Action       rules.Action
	Score        int
	Fallback     bool // the fail policy decided, not the rules
	// The shadow candidate's verdict, when one was evaluated beside the live set.
	ShadowSet      *rules.Set
	ShadowAction   rules.Action
	ShadowFired    [MaxFired]uint16
	NumShadowFired int
	// Label, when set, makes this a label record instead of a decision: an analyst's or a client's verdict
	// ("fraud" or "legit") on the decision with EvaluationID, for backtests to measure detection with.
	Label    string
	Set      *rules.Set // the rule set that decided; immutable, so safe to read later
	Fired    [MaxFired]uint16
	NumFired int
	Vector   features.Vector
	// The vector's strings that alias the request; the rest point at immutable data (names, the GeoIP files in memory).
	tenant, channel, currency shortString
}

// Fill sets r from a decision. fired indexes set.Rules. v's request-owned strings are copied into r.
func (r *Record) Fill(at int64, evalID, userKey uint64, a rules.Action, score int, set *rules.Set, fired []int, v *features.Vector) {
	r.Time, r.EvaluationID, r.UserKey, r.Action, r.Score, r.Set, r.Fallback, r.Label = at, evalID, userKey, a, score, set, false, ""
	r.ShadowSet, r.NumShadowFired = nil, 0
	r.NumFired = 0
	for _, i := range fired {
		if r.NumFired == MaxFired {
			break
		}
		r.Fired[r.NumFired] = uint16(i)
		r.NumFired++
	}
	r.Vector = *v
	r.tenant.set(v.Tenant)
	r.channel.set(v.Channel)
	r.currency.set(v.Currency)
	r.Vector.Tenant, r.Vector.Channel, r.Vector.Currency = "", "", ""
	// Attribute values alias the request and may be personal (an e-mail domain, a payment fingerprint): the
	// log keeps none of them.
	for i := range features.NumAttrSlots {
		*r.Vector.AttrSlot(i) = ""
	}
}

// Tenant returns the event's tenant. It allocates: for readers off the request path.
func (r *Record) Tenant() string { return r.tenant.String() }

// TenantIs reports whether the event's tenant is t, without allocating.
func (r *Record) TenantIs(t string) bool { return string(r.tenant.b[:r.tenant.n]) == t }

// FullVector returns the recorded feature vector with the request-owned strings Fill copied out of it put
// back. It allocates: for readers off the request path.
func (r *Record) FullVector() features.Vector {
	v := r.Vector
	v.Tenant, v.Channel, v.Currency = r.tenant.String(), r.channel.String(), r.currency.String()
	return v
}

// SetShadow records what a shadow candidate decided for the same event.
func (r *Record) SetShadow(set *rules.Set, a rules.Action, fired []int) {
	r.ShadowSet, r.ShadowAction, r.NumShadowFired = set, a, 0
	for _, i := range fired {
		if r.NumShadowFired == MaxFired {
			break
		}
		r.ShadowFired[r.NumShadowFired] = uint16(i)
		r.NumShadowFired++
	}
}

// AppendJSON appends r as one NDJSON line. The feature vector is written as an object keyed by the names
// rules use, so a reader needs no schema and a backtest can evaluate rules over it.
func (r *Record) AppendJSON(b []byte, enc *jsonenc.VectorEncoder) []byte {
	b = append(b, `{"time":"`...)
	b = time.Unix(0, r.Time).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","evaluation_id":"`...)
	b = jsonenc.AppendHex64(b, r.EvaluationID)
	if r.Label != "" {
		b = append(b, `","label":`...)
		b = jsonenc.AppendString(b, r.Label)
		return append(b, "}\n"...)
	}
	b = append(b, `","user":"`...)
	b = jsonenc.AppendHex64(b, r.UserKey)
	b = append(b, `","decision":"`...)
	b = append(b, r.Action.String()...)
	b = append(b, `","score":`...)
	b = strconv.AppendInt(b, int64(r.Score), 10)
	if r.Fallback {
		b = append(b, `,"fallback":true`...)
	}
	b = append(b, `,"rules_version":`...)
	version := ""
	if r.Set != nil {
		version = r.Set.Version
	}
	b = jsonenc.AppendString(b, version)
	b = append(b, `,"fired":[`...)
	for i := range r.NumFired {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, r.Set.Rules[r.Fired[i]].ID)
	}
	b = append(b, ']')
	if r.ShadowSet != nil {
		b = append(b, `,"shadow":{"rules_version":`...)
		b = jsonenc.AppendString(b, r.ShadowSet.Version)
		b = append(b, `,"decision":"`...)
		b = append(b, r.ShadowAction.String()...)
		b = append(b, `","fired":[`...)
		for i := range r.NumShadowFired {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, r.ShadowSet.Rules[r.ShadowFired[i]].ID)
		}
		b = append(b, "]}"...)
	}
	if m := r.Vector.ListMask; m != 0 && r.Set != nil {
		// list_mask numbers lists the live set's way; names are what a backtest can map to a candidate's.
		b = append(b, `,"lists":[`...)
		first := true
		for i, name := range r.Set.Lists {
			if m&(1<<i) == 0 {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = jsonenc.AppendString(b, name)
		}
		b = append(b, ']')
	}
	b = append(b, `,"features":`...)
	v := r.FullVector()
	b = enc.Append(b, &v)
	return append(b, "}\n"...)
}
