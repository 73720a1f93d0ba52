package server

import (
	"strconv"
	"unsafe"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/internal/jsonenc"
)

// appendString and appendHex64 are jsonenc's, under the short names the server's encoders use (functions, not
// variables holding them, so that calls are direct).
func appendString(b []byte, s string) []byte { return jsonenc.AppendString(b, s) }

func appendHex64(b []byte, v uint64) []byte { return jsonenc.AppendHex64(b, v) }

// appendDecision appends the /v1/decide response body (without the explanation). msg is scratch for reason
// messages formatted with feature values; it is returned for reuse.
func appendDecision(b []byte, d *engine.Decision, tookUs int64, msg []byte) ([]byte, []byte) {
	b = append(b, `{"decision":`...)
	b = appendString(b, d.Action.String())
	b = append(b, `,"score":`...)
	b = strconv.AppendInt(b, int64(d.Score), 10)
	b = append(b, `,"reasons":[`...)
	for i := range d.Reasons {
		r := &d.Reasons[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		if r.JSON != nil { // code, rule and a static message, encoded with the rule set
			b = append(b, r.JSON...)
		} else {
			b = append(b, `"code":`...)
			b = appendString(b, r.Code)
			b = append(b, `,"rule":`...)
			b = appendString(b, r.Rule)
		}
		switch {
		case r.Template != nil:
			b = append(b, `,"message":`...)
			msg = r.Template.Append(msg[:0], &d.Values)
			b = appendString(b, unsafe.String(unsafe.SliceData(msg), len(msg)))
		case r.JSON == nil:
			b = append(b, `,"message":`...)
			b = appendString(b, r.Message)
		}
		b = append(b, `,"score":`...)
		b = strconv.AppendInt(b, int64(r.Score), 10)
		b = append(b, '}')
	}
	b = append(b, `],"evaluation_id":"`...)
	b = appendHex64(b, d.EvaluationID)
	b = append(b, `","rules_version":`...)
	b = appendString(b, d.RulesVersion)
	b = append(b, `,"took_us":`...)
	b = strconv.AppendInt(b, tookUs, 10)
	return b, msg
}
