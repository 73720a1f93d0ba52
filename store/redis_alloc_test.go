package store

import (
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// TestRedisReadAllocs bounds what a decision's read from Redis allocates: five subjects, each with two
// instances' records, and the profile. The client builds its commands and reads its answers into memory of its
// own (a string per field and value, an array per answer: 26 here), and riskd allocates each command's key, the
// context of the round trip and a few slices; 51 in all (87 when each answer was read into a map, each record
// copied and each merge allocated two records). A map or a copy per subject read goes over the bound.
func TestRedisReadAllocs(t *testing.T) {
	srv := storetest.StartRedis(t)
	a, b := openRedis(t, srv.Addr, "k"), openRedis(t, srv.Addr, "k")
	s := Subjects{User: 1, HasUser: true, IP: 2, HasIP: true, Subnet: 3, HasSubnet: true, ASN: 4, HasASN: true,
		Device: 5, HasDevice: true}
	now := time.Now().Unix()
	var out Reading
	for _, r := range []*Redis{a, b} {
		r.Observe(s, now, SetOf(Attempts), &out)
		settle(t, r)
	}
	learn(a, 1, 5, now)
	settle(t, a)
	n := testing.AllocsPerRun(2000, func() { b.Observe(s, now, 0, &out) }) // counts nothing: no write follows
	if out.IP[Attempts][Minute] != 2 || !out.HasProfile {
		t.Fatalf("read %d attempts of the address, profile %v: not both instances' records", out.IP[Attempts][Minute], out.HasProfile)
	}
	t.Logf("%.0f allocations a read", n)
	if n > readAllocs {
		t.Fatalf("a decision's read allocates %.0f times, more than %d", n, readAllocs)
	}
}

// readAllocs is the bound: the 51 measured, and room for the client's bookkeeping to vary by a few.
const readAllocs = 55
