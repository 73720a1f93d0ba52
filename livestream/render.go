package livestream

import (
	"strconv"
	"time"

	"github.com/riskd/riskd/internal/jsonenc"
)

// AppendJSON appends e as the JSON object a viewer receives (docs/CONSOLE-API.md): the decision as
// /v1/decide answered it, who and where (the user as the decision log's keyed hash, never the user id), the
// shadow set's verdict, the whole feature vector and every rule of the deciding set with whether it fired.
func AppendJSON(b []byte, e *Entry, enc *jsonenc.VectorEncoder) []byte {
	r := &e.Record
	v := r.FullVector()
	b = append(b, `{"time":"`...)
	b = time.Unix(0, r.Time).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","evaluation_id":"`...)
	b = jsonenc.AppendHex64(b, r.EvaluationID)
	b = append(b, `","tenant":`...)
	b = jsonenc.AppendString(b, v.Tenant)
	b = append(b, `,"event":`...)
	b = jsonenc.AppendString(b, v.Event)
	b = append(b, `,"user":"`...)
	b = jsonenc.AppendHex64(b, r.UserKey)
	b = append(b, `","ip":`...)
	if e.IP.IsValid() {
		b = append(b, '"')
		b = e.IP.AppendTo(b)
		b = append(b, '"')
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"country":`...)
	b = jsonenc.AppendString(b, v.Country)
	b = append(b, `,"decision":"`...)
	b = append(b, r.Action.String()...)
	b = append(b, `","score":`...)
	b = strconv.AppendInt(b, int64(r.Score), 10)
	b = append(b, `,"reasons":[`...)
	for i := range e.NumReasons {
		rs := &e.Reasons[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"code":`...)
		b = jsonenc.AppendString(b, rs.Code)
		b = append(b, `,"rule":`...)
		b = jsonenc.AppendString(b, rs.Rule)
		b = append(b, `,"score":`...)
		b = strconv.AppendInt(b, int64(rs.Score), 10)
		b = append(b, '}')
	}
	b = append(b, `],"took_us":`...)
	b = strconv.AppendInt(b, e.Took.Microseconds(), 10)
	b = append(b, `,"rules_version":`...)
	version := ""
	if r.Set != nil {
		version = r.Set.Version
	}
	b = jsonenc.AppendString(b, version)
	if r.ShadowSet != nil {
		b = append(b, `,"shadow":{"decision":"`...)
		b = append(b, r.ShadowAction.String()...)
		b = append(b, `","score":`...)
		b = strconv.AppendInt(b, int64(e.ShadowScore), 10)
		b = append(b, '}')
	}
	b = append(b, `,"features":`...)
	b = enc.Append(b, &v)
	b = append(b, `,"rules":[`...)
	if r.Set != nil {
		fired := r.Fired[:r.NumFired]
		for i := range r.Set.Rules {
			rule := &r.Set.Rules[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = jsonenc.AppendString(b, rule.ID)
			b = append(b, `,"fired":`...)
			// Fired is in rule order, as the evaluator appends it.
			hit := len(fired) > 0 && int(fired[0]) == i
			if hit {
				fired = fired[1:]
			}
			b = strconv.AppendBool(b, hit)
			b = append(b, `,"score":`...)
			b = strconv.AppendInt(b, int64(rule.Score), 10)
			b = append(b, '}')
		}
	}
	return append(b, "]}"...)
}
