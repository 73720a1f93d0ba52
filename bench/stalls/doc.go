//go:build linux

// Command stalls measures how often the machine takes a busy CPU away from a process, and for how long.
//
// It runs a busy loop on each CPU it may use (one OS thread pinned to each) that reads the clock as fast as it
// can and records every gap longer than -min between two readings: time the thread was not running although
// it never blocked. On a quiet machine with its own cores the gaps are timer interrupts of microseconds; on a
// virtual machine they include the time the host gave the virtual CPU to someone else, which no steal counter
// may report. Every process on the machine, a server and its load generator alike, sees the same gaps: they
// set the floor under the tail latencies bench/load reports.
//
//	go run ./bench/stalls -duration 10s            # every CPU busy at once
//	go run ./bench/stalls -duration 10s -cpus 0    # one CPU busy, the others idle
package main
