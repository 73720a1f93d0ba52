package store

import "testing"

var factsSink Facts

// Figures on the 2-core development machine, shared with other builds: the least of 8 interleaved runs
// (go test ./store -run '^$' -bench FactsObserve), all 0 allocs/op:
//
//	                 before   after
//	shared           572 ns   317 ns   (the registers answer: now counted four at a time and kept per minute)
//	own              309 ns   298 ns   (the sets answer: lookups and cache misses, as before)
//	day              690 ns   427 ns
//
// Before, a read counted each window in its own pass over the slots and registers (age with two branches per
// stamp) and took two logarithms per window; the engine's BenchmarkDecide went from 1.70-1.87 to 1.39-1.51 µs,
// the facts' share of its profile from 40% to 25%.

// BenchmarkFactsObserve is the state part of a decision without a profile: read and add one attempt for a
// user, an address, a subnet and a device (their records hold their counters and facts together; the figures
// above are of the facts alone, before they were). shared: 1000 users over 4 addresses (each address's set is full and its registers
// answer, as in the engine's BenchmarkDecide); own: each user on an address of its own (the sets answer);
// day: the shared addresses with attempts spread over a day, so registers and slots hold stamps of all ages.
func BenchmarkFactsObserve(b *testing.B) {
	for _, c := range []struct {
		name  string
		addrs uint64
		step  int64 // seconds between attempts
	}{{"shared", 4, 0}, {"own", 1000, 0}, {"day", 4, 90}} {
		b.Run(c.name, func(b *testing.B) {
			m := NewMemory(0)
			var r Reading
			const users = 1000
			subjects := func(i uint64) Subjects {
				u, ip := i%users, i%users%c.addrs
				return Subjects{User: mix(u), HasUser: true, IP: mix(1<<40 | ip), HasIP: true,
					Subnet: mix(2<<40 | ip/2), HasSubnet: true, Device: mix(3<<40 | u), HasDevice: true,
					Country: [2]byte{'S', 'E'}, UA: 7}
			}
			at := int64(t0)
			for i := range uint64(users) {
				s := subjects(i)
				m.Observe(s, at+c.step*int64(i), SetOf(Attempts), &r)
			}
			at += c.step * users
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				s := subjects(i)
				m.Observe(s, at+int64(i>>10)+c.step*int64(i), SetOf(Attempts), &r)
				factsSink = r.Facts
				i++
			}
		})
	}
}
