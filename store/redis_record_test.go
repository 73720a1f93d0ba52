package store

import (
	"math"
	"strings"
	"testing"
)

// TestRecordLayoutMatchesCodec: the field runs the Redis script is generated from describe the bodies the Go
// codecs write, field for field: same length, and every named run where the codec puts it.
func TestRecordLayoutMatchesCodec(t *testing.T) {
	var v velocityRecord
	v.head = [NumWindows]int32{1, 2, 3, 4}
	if got, want := runsLen(ringRuns), len(v.appendBody(nil)); got != want || got != ringBytes {
		t.Fatalf("ring runs hold %d bytes, the codec writes %d (ringBytes %d)", got, want, ringBytes)
	}
	bodies := map[factsKind]int{
		userRecord:   len((&userFacts{}).appendBody(nil)),
		addrRecord:   len((&addrFacts{}).appendBody(nil)),
		deviceRecord: len((&deviceFacts{}).appendBody(nil)),
	}
	for f, want := range bodies {
		if got := runsLen(factsRuns[f]); got != want {
			t.Fatalf("facts kind %d: runs hold %d bytes, the codec writes %d", f, got, want)
		}
	}
	// A field the codec writes at a place is where the runs put the run of that name.
	at := func(runs []fieldRun, name string) int {
		pos := 0
		for _, r := range runs {
			if r.name == name {
				return pos
			}
			pos += r.n * r.size
		}
		t.Fatalf("no run %q", name)
		return 0
	}
	d := deviceFacts{ua: 0xA1B2C3D4}
	if b := d.appendBody(nil); le.Uint32(b[at(factsRuns[deviceRecord], "ua"):]) != 0xA1B2C3D4 {
		t.Fatal("the device's user agent is not where the runs say")
	}
	var u userFacts
	u.amount[0][0] = 1.5
	if b := u.appendBody(nil); math.Float32frombits(le.Uint32(b[at(factsRuns[userRecord], "amounts"):])) != 1.5 {
		t.Fatal("the user's amounts are not where the runs say")
	}
	var a addrFacts
	a.regs[0] = 0xBEEF
	if b := a.appendBody(nil); le.Uint16(b[at(factsRuns[addrRecord], "regs"):]) != 0xBEEF {
		t.Fatal("the address's registers are not where the runs say")
	}
	for _, prefix := range []string{"RING_", "USER_", "ADDR_", "DEVICE_", "ARGC_", "ARGS_", "WIN_", "KIND_", "RANGE_GAP"} {
		if strings.Contains(recordScript, prefix) {
			t.Fatalf("the script holds a name (%s...) it was not given a value for", prefix)
		}
	}
	// The arguments the Go side encodes are laid out as the script reads them.
	var ix [NumWindows]int32
	if got, want := len(appendCommonArgs(nil, &ix, 0, 0, true, true, 1, 0, 0, 0, 5)), runsLen(commonArgRuns); got != want {
		t.Fatalf("common arguments of %d bytes, the script reads %d", got, want)
	}
	if got, want := len(appendSubjectArgs(nil, userRecord, 0, true, 0, &[4]float64{})), runsLen(subjectArgRuns); got != want {
		t.Fatalf("a subject's arguments of %d bytes, the script reads %d", got, want)
	}
	for k := range numKinds {
		if recordLen(k) < ringBytes {
			t.Fatalf("%s record of %d bytes", kinds[k].name, recordLen(k))
		}
	}
}
