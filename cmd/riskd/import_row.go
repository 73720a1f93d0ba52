package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"
)

// The columns (CSV) or fields (NDJSON) of legacy login history, by their index in a row.
const (
	colUser = iota
	colTime
	colIP
	colUserAgent
	colDeviceID
	colSuccess
	colTenant
	numCols
)

var colNames = [numCols]string{"user", "time", "ip", "user_agent", "device_id", "success", "tenant"}

// colIndex returns the column named name, or -1.
func colIndex(name string) int {
	for i, n := range colNames {
		if n == name {
			return i
		}
	}
	return -1
}

// Bounds on imported strings: those of the HTTP API, so that an imported login is keyed exactly as the same login
// sent to /v1/decide would be, and a value the API would refuse is refused here too.
const (
	importMaxID        = 256
	importMaxUserAgent = 1024
	importMaxTenant    = 64
	importMaxSkew      = 5 * time.Minute // as serve: a login stamped later than this after now is a bad clock or a bad export
)

// importRow is one login of legacy history. Its strings may alias the reader's buffer: they live until the next
// row, and the importer keeps only keyed hashes of them.
type importRow struct {
	user, userAgent, deviceID, tenant string
	ip                                netip.Addr
	at                                int64 // unix nanoseconds
	success                           bool
	seen                              uint8 // bit per column given, to refuse a field given twice
}

func (r *importRow) reset() { *r = importRow{success: true} }

// rowError is why a row is refused: the field at fault ("" when the row as a whole is) and what is wrong. Line is
// filled in by the reader.
type rowError struct {
	Line   int    `json:"line"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

func (e *rowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Reason)
}

func badRow(col int, format string, args ...any) *rowError {
	e := &rowError{Reason: fmt.Sprintf(format, args...)}
	if col >= 0 {
		e.Field = colNames[col]
	}
	return e
}

// set sets column col from its text s; an empty s leaves the column absent. now (unix nanoseconds) bounds times.
func (r *importRow) set(col int, s string, now int64) *rowError {
	if e := r.mark(col); e != nil {
		return e
	}
	if s == "" {
		return nil
	}
	switch col {
	case colUser:
		return checkString(&r.user, s, col, importMaxID)
	case colDeviceID:
		return checkString(&r.deviceID, s, col, importMaxID)
	case colUserAgent:
		return checkString(&r.userAgent, s, col, importMaxUserAgent)
	case colTenant:
		if e := checkString(&r.tenant, s, col, importMaxTenant); e != nil {
			return e
		}
		if !validTenantName(s) {
			return badRow(col, "may hold only letters, digits, '_', '-' and '.'")
		}
	case colIP:
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return badRow(col, "%q is not an IPv4 or IPv6 address", clip(s))
		}
		r.ip = a.Unmap()
	case colSuccess:
		switch strings.ToLower(s) {
		case "true", "1":
			r.success = true
		case "false", "0":
			r.success = false
		default:
			return badRow(col, "%q is not true, false, 1 or 0", clip(s))
		}
	case colTime:
		return r.setTime(s, now)
	}
	return nil
}

// mark notes that column col is given, refusing it a second time: which of two values was meant is unknown.
func (r *importRow) mark(col int) *rowError {
	if r.seen&(1<<col) != 0 {
		return badRow(col, "given twice")
	}
	r.seen |= 1 << col
	return nil
}

// setTime reads RFC 3339 or unix seconds or milliseconds: legacy exports carry either. An integer below 10^11 is
// seconds (10^11 s is the year 5138), above it milliseconds (10^11 ms is March 1973, before any login history).
func (r *importRow) setTime(s string, now int64) *rowError {
	if allDigits(s) {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return badRow(colTime, "%s is too large for unix seconds or milliseconds", clip(s))
		}
		return r.setUnix(n, now)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return badRow(colTime, "%q is neither RFC 3339 (2026-01-02T15:04:05Z) nor unix seconds or milliseconds", clip(s))
	}
	if y := t.Year(); y < 1970 || y > 2200 { // UnixNano holds 1678-2262
		return badRow(colTime, "%s is out of range", clip(s))
	}
	return r.setAt(t.UnixNano(), now)
}

// allDigits reports whether s is a decimal integer: checked first, since a failed strconv parse allocates its
// error, and most rows of an RFC 3339 export would.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (r *importRow) setUnix(n uint64, now int64) *rowError {
	switch {
	case n == 0:
		return badRow(colTime, "0 is not a time")
	case n < 1e11:
		return r.setAt(int64(n)*int64(time.Second), now)
	case n < 1e14:
		return r.setAt(int64(n)*int64(time.Millisecond), now)
	}
	return badRow(colTime, "%d is too large for unix seconds or milliseconds", n)
}

func (r *importRow) setAt(at, now int64) *rowError {
	if at > now+int64(importMaxSkew) {
		return badRow(colTime, "%s is in the future", time.Unix(0, at).UTC().Format(time.RFC3339))
	}
	// As serve takes a timestamp ahead of arrival: a login cannot have happened after the import began, and a
	// profile stamped later than now would make the user's next real login look like travel in no time.
	r.at = min(at, now)
	return nil
}

// finish checks what a row must have once all its columns are read.
func (r *importRow) finish() *rowError {
	switch {
	case r.user == "":
		return badRow(colUser, "missing: every row needs the user it is about")
	case r.at == 0:
		return badRow(colTime, "missing: every row needs the time of the login")
	}
	if r.tenant == "" {
		r.tenant = "default"
	}
	return nil
}

// checkString stores s in dst when it is at most maxLen bytes of UTF-8 without control characters, as the API
// requires of its strings.
func checkString(dst *string, s string, col, maxLen int) *rowError {
	if len(s) > maxLen {
		return badRow(col, "longer than %d bytes", maxLen)
	}
	if !utf8.ValidString(s) {
		return badRow(col, "not valid UTF-8")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return badRow(col, "contains control characters")
		}
	}
	*dst = s
	return nil
}

// validTenantName is the API's rule for tenant names, which rules, metrics and logs use.
func validTenantName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// clip shortens a value quoted in a reason: a reason names the problem, it need not carry a whole bad cell.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// parseCSVRow reads a CSV record into r; cols maps each record position to its column (-1: ignored).
func parseCSVRow(cols []int, rec []string, now int64, r *importRow) *rowError {
	r.reset()
	for i, s := range rec {
		if i < len(cols) && cols[i] >= 0 {
			if e := r.set(cols[i], s, now); e != nil {
				return e
			}
		}
	}
	return r.finish()
}

// parseNDJSONRow reads one JSON object into r. Unknown fields are refused, as the API refuses them: in a file
// written for riskd, a misspelt field ("device") would otherwise silently teach less. Strings alias p's memory.
func parseNDJSONRow(p *fastjson.Parser, line []byte, now int64, r *importRow) *rowError {
	r.reset()
	v, err := p.ParseBytes(line)
	if err != nil {
		return badRow(-1, "not valid JSON: %v", err)
	}
	o, err := v.Object()
	if err != nil {
		return badRow(-1, "not a JSON object")
	}
	var re *rowError
	o.Visit(func(key []byte, v *fastjson.Value) {
		if re != nil {
			return
		}
		col := colIndex(unsafe.String(unsafe.SliceData(key), len(key)))
		if col < 0 {
			re = badRow(-1, "unknown field %q (fields: %s)", clip(string(key)), strings.Join(colNames[:], ", "))
			return
		}
		re = r.setJSON(col, v, now)
	})
	if re != nil {
		return re
	}
	return r.finish()
}

// setJSON sets column col from a JSON value: a string for every column, also a number for time (unix seconds or
// milliseconds) and success (1, 0), a boolean for success; null is absent.
func (r *importRow) setJSON(col int, v *fastjson.Value, now int64) *rowError {
	switch v.Type() {
	case fastjson.TypeNull:
		return r.set(col, "", now)
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if len(b) == 0 {
			return r.set(col, "", now)
		}
		return r.set(col, unsafe.String(unsafe.SliceData(b), len(b)), now)
	case fastjson.TypeTrue, fastjson.TypeFalse:
		if col == colSuccess {
			if v.Type() == fastjson.TypeTrue {
				return r.set(col, "true", now)
			}
			return r.set(col, "false", now)
		}
	case fastjson.TypeNumber:
		n, err := v.Uint64()
		switch {
		case col == colTime && err == nil:
			if e := r.mark(col); e != nil {
				return e
			}
			return r.setUnix(n, now)
		case col == colSuccess && err == nil && n <= 1:
			if e := r.mark(col); e != nil {
				return e
			}
			r.success = n == 1
			return nil
		}
	}
	if col == colTime {
		return badRow(col, "must be a string (RFC 3339) or a number (unix seconds or milliseconds)")
	}
	if col == colSuccess {
		return badRow(col, "must be true, false, 1 or 0")
	}
	return badRow(col, "must be a string")
}
