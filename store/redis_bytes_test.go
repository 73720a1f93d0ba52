package store

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/riskd/riskd/store/storetest"
)

// goRecord is what recordScript must make of a subject's record, made with the Go records' own code
// (velocity.go, facts.go) and written with their codecs.
type goRecord struct {
	exists bool
	ring   velocityRecord
	user   userFacts
	addr   addrFacts
	device deviceFacts
}

func (g *goRecord) apply(k kind, s *Subjects, at int64, ms MetricSet, withFacts bool) {
	ix := bucketIndices(at)
	mn := minuteOf(at)
	if !g.exists {
		g.exists = true
		g.ring.head = ix // a new subject's rings start at the event's buckets (subjects.go)
	}
	for m := range NumMetrics {
		if ms.Has(m) {
			g.ring.add(m, &ix, 1)
		}
	}
	rec := kinds[k].facts
	if !withFacts || rec == noFacts || rec == addrRecord && !s.HasUser {
		return
	}
	switch rec {
	case userRecord:
		if g.user.last == 0 {
			g.user.init(mn, ix)
		}
		sg := UserSighting{Country: s.Country, Amount: s.Amount, HasAmount: s.HasAmount}
		if s.HasIP {
			sg.IP = s.IP
		}
		if s.HasDevice {
			sg.Device = s.Device
		}
		g.user.add(at, &sg)
	case addrRecord:
		if g.addr.last == 0 {
			g.addr.init(mn, ix)
		}
		g.addr.add(at, s.User)
	case deviceRecord:
		if g.device.last == 0 {
			g.device.init(mn, ix)
		}
		sg := DeviceSighting{UA: s.UA}
		if s.HasUser {
			sg.User = s.User
		}
		g.device.add(at, &sg)
	}
}

func (g *goRecord) bytes(k kind) []byte {
	b := g.ring.appendBody(nil)
	switch kinds[k].facts {
	case userRecord:
		b = g.user.appendBody(b)
	case addrRecord:
		b = g.addr.appendBody(b)
	case deviceRecord:
		b = g.device.appendBody(b)
	}
	return b
}

// TestRecordScriptMatchesGoBytes replays a random stream of events (busy stretches, gaps of minutes, hours and
// days, late events, sets that fill up, saturating counts) into recordScript and into the Go records: after
// every event each subject's record in Redis must be, byte for byte, what the Go code writes. Every path of
// the script is taken: a new record, a ring at its head, rings that advance by one bucket and past all of
// them, late events, facts at their first event, within the hour, after a sweep and after a day.
func TestRecordScriptMatchesGoBytes(t *testing.T) {
	srv := storetest.StartRedis(t)
	r := openRedis(t, srv.Addr, "k")
	c := srv.Client(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 12))
	model := map[string]*goRecord{}
	at := time.Now().Unix() - 3*86400
	for i := range 3000 {
		switch x := rng.IntN(100); {
		case x < 60:
			at += rng.Int64N(12)
		case x < 85:
			at += rng.Int64N(700)
		case x < 97:
			at += rng.Int64N(20000)
		default:
			at += rng.Int64N(100000)
		}
		ev := at
		if rng.IntN(8) == 0 {
			ev -= rng.Int64N(30000) // a late event
		}
		s := Subjects{User: mix(uint64(rng.IntN(3))), HasUser: rng.IntN(8) != 0, IP: mix(100 + uint64(rng.IntN(40))), HasIP: rng.IntN(6) != 0,
			Subnet: mix(200 + uint64(rng.IntN(2))), HasSubnet: true, ASN: mix(300), HasASN: rng.IntN(3) != 0,
			Device: mix(400 + uint64(rng.IntN(20))), HasDevice: rng.IntN(3) != 0, UA: uint32(rng.IntN(3)),
			Country: [2]byte{'A' + byte(rng.IntN(12)), 'X'}, Amount: float64(rng.IntN(100000)) / 100, HasAmount: rng.IntN(3) == 0}
		if rng.IntN(5) == 0 {
			s.Country = [2]byte{}
		}
		ms := MetricSet(rng.IntN(8))
		withFacts := rng.IntN(4) != 0
		var cmds = r.recordCalls(&s, ev, ms, withFacts, false, 1, time.Now().UnixMilli(), rng.IntN(2) == 0)
		for _, rc := range cmds {
			cmd, cl := rc.cmd(c, r.rec)
			if err := doMulti(ctx, c, []rueidis.Completed{cmd}, []*call{cl})[0].Error(); err != nil {
				t.Fatal(err)
			}
		}
		for k := range numKinds {
			key, has := s.subject(k)
			if !has {
				continue
			}
			rk := subjectKey(k, key, 'r')
			g := model[rk]
			if g == nil {
				g = &goRecord{}
				model[rk] = g
			}
			if ms == 0 && !(withFacts && kinds[k].facts != noFacts && (kinds[k].facts != addrRecord || s.HasUser)) {
				continue // nothing to change: no record is made
			}
			g.apply(k, &s, ev, ms, withFacts)
			got, err := c.Do(ctx, c.B().Get().Key(rk).Build()).AsBytes()
			if err != nil {
				t.Fatalf("event %d: %s: %v", i, rk, err)
			}
			if want := g.bytes(k); !bytes.Equal(got, want) {
				t.Fatalf("event %d (%+d s late, metrics %b, facts %v): %s record differs\nredis %x\ngo    %x", i, at-ev, ms, withFacts,
					kinds[k].name, got, want)
			}
		}
	}
}
