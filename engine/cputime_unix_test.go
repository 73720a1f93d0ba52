//go:build unix

package engine_test

import (
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is the CPU time the process has used so far, all its threads together, or 0 where the clock is
// refused. On a machine shared with other work, a benchmark's wall time counts the time other processes held
// the cores; its CPU time does not.
func processCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
