package store

import (
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// TestRedisConcurrentInstancesLoseNoCount: two instances count the same subjects at once, from several
// goroutines each, with event times that move the rings forward while they race (every 50th event starts a
// new 10 s bucket). Each update runs whole in Redis, so no increment is lost: the day window holds every
// event, and the subjects' facts hold every user.
func TestRedisConcurrentInstancesLoseNoCount(t *testing.T) {
	srv := storetest.StartRedis(t)
	a, b := openRedis(t, srv.Addr, "k"), openRedis(t, srv.Addr, "k")
	const workers, each = 4, 300
	start := (time.Now().Unix()/(4*3600) - 2) * 4 * 3600 // the run's minute lies in one Day bucket
	var wg sync.WaitGroup
	for w := range 2 * workers {
		inst := a
		if w%2 == 1 {
			inst = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rd Reading
			for i := range each {
				at := start + int64(i/50)*10
				s := Subjects{IP: 7, HasIP: true, ASN: 9, HasASN: true, User: mix(uint64(w*each + i)), HasUser: true}
				if i%2 == 0 {
					inst.Observe(s, at, SetOf(Attempts, Failures), &rd)
				} else {
					inst.Count(s, SetOf(Attempts), at)
				}
			}
		}()
	}
	wg.Wait()
	settle(t, a)
	settle(t, b)
	var rd Reading
	end := start + int64(each/50)*10
	a.Observe(Subjects{IP: 7, HasIP: true, ASN: 9, HasASN: true}, end, 0, &rd)
	const n = 2 * workers * each
	if rd.IP[Attempts][Day] != n || rd.ASN[Attempts][Day] != n || rd.IP[Failures][Day] != n/2 {
		t.Fatalf("day window: IP %d attempts, %d failures; ASN %d attempts; want %d, %d, %d",
			rd.IP[Attempts][Day], rd.IP[Failures][Day], rd.ASN[Attempts][Day], n, n/2, n)
	}
	if rd.Facts.IPUsers24h < addrUserSlots {
		t.Fatalf("the address knows %d users", rd.Facts.IPUsers24h)
	}
	if a.Health() != nil || b.Health() != nil {
		t.Fatal(a.Health(), b.Health())
	}
}
