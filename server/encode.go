package server

import (
	"strconv"
	"unicode/utf8"

	"github.com/riskd/riskd/engine"
)

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD so the output is always valid JSON.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript embedders; escape them as encoding/json does.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendHex64 appends v as 16 lowercase hex digits.
func appendHex64(b []byte, v uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(v>>uint(shift))&0xf])
	}
	return b
}

// appendDecision appends the /v1/decide response body (without the explanation).
func appendDecision(b []byte, d *engine.Decision, tookUs int64) []byte {
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
		b = append(b, `{"code":`...)
		b = appendString(b, r.Code)
		b = append(b, `,"rule":`...)
		b = appendString(b, r.Rule)
		b = append(b, `,"message":`...)
		b = appendString(b, r.Message)
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
	return b
}
