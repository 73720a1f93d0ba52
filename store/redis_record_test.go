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
	if strings.Contains(recordScript, "RING_") || strings.Contains(recordScript, "USER_") || strings.Contains(recordScript, "ADDR_") ||
		strings.Contains(recordScript, "DEVICE_") {
		t.Fatal("the script holds a name it was not given a value for")
	}
	for k := range numKinds {
		if recordLen(k) < ringBytes {
			t.Fatalf("%s record of %d bytes", kinds[k].name, recordLen(k))
		}
	}
}
