//go:build !unix

package engine_test

import "time"

// processCPU is 0 where riskd knows of no process CPU clock: no CPU time is reported.
func processCPU() time.Duration { return 0 }
