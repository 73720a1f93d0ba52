package main

import (
	"testing"
	"time"

	"github.com/valyala/fastjson"
)

// TestImportRowAheadTakesStart: a row stamped a little after the import began (a fast clock in the legacy
// system, within the accepted skew) is taught at the import's start, as serve takes such a timestamp as
// arrival; an earlier row keeps its own time.
func TestImportRowAheadTakesStart(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	p := &fastjson.Parser{}
	for _, c := range []struct {
		at   time.Time
		want time.Time
	}{
		{now.Add(4 * time.Minute), now},
		{now.Add(-time.Hour), now.Add(-time.Hour)},
	} {
		var r importRow
		line := `{"user":"ana","time":"` + c.at.Format(time.RFC3339) + `","success":true}`
		if e := parseNDJSONRow(p, []byte(line), now.UnixNano(), &r); e != nil {
			t.Fatalf("%s: %v", line, e)
		}
		if r.at != c.want.UnixNano() {
			t.Errorf("%s: taught at %v, want %v", line, time.Unix(0, r.at).UTC(), c.want)
		}
	}
}
