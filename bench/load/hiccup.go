package main

import "time"

// hiccupTick is how often the hiccup meter wakes. time.Sleep of 1 ms takes about 1.1 ms on Linux; only the
// excess over hiccupFloor counts.
const (
	hiccupTick  = time.Millisecond
	hiccupFloor = 2 * time.Millisecond
)

// meterHiccups measures stalls of the generator's process, as jHiccup does: a goroutine that asks to sleep 1 ms
// records by how much more it slept. A stall hits every request in flight at once, so it shows in the p99.9
// and the max as a latency the server never caused: a descheduled virtual CPU, another tenant's build on the
// same host, the generator's own CPU saturated. The report shows the longest stall beside the latencies. It
// runs until stop is closed, then closes done.
func meterHiccups(start time.Time, rec *Recorder, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	last := time.Since(start)
	for {
		select {
		case <-stop:
			return
		default:
		}
		time.Sleep(hiccupTick)
		now := time.Since(start)
		if excess := now - last - hiccupTick; excess > hiccupFloor {
			rec.Hiccup(now, excess)
		}
		last = now
	}
}
