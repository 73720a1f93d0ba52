//go:build !race

package store

import "testing"

// TestObserveAllocs: a decision's read and count of all five subjects and their facts allocates nothing.
func TestObserveAllocs(t *testing.T) {
	m := NewMemory(0)
	s := Subjects{User: 1, HasUser: true, IP: 2, HasIP: true, Device: 3, HasDevice: true, Subnet: 4, HasSubnet: true,
		ASN: 5, HasASN: true, Country: [2]byte{'S', 'E'}, UA: 9, Amount: 10, HasAmount: true}
	var r Reading
	at := int64(t0)
	m.Observe(s, at, SetOf(Attempts), &r)
	allocs := testing.AllocsPerRun(1000, func() {
		at += 7 // moves the rings and, each hour, sweeps the facts
		m.Observe(s, at, SetOf(Attempts, Failures), &r)
	})
	if allocs != 0 {
		t.Errorf("Observe: %v allocs/op, want 0", allocs)
	}
}
