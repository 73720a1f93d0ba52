package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// otherLoad is the CPU, in % of one core, that processes other than the generator used over window.
func otherLoad(ctx context.Context, window time.Duration) (float64, error) {
	t0, m0, g0 := time.Now(), readMachine(), selfCPU()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(window):
	}
	m1, g1 := readMachine(), selfCPU()
	if !m0.ok || !m1.ok {
		return 0, fmt.Errorf("no /proc/stat")
	}
	busy := (m1.task - m0.task) - (g1 - g0)
	return max(100*busy.Seconds()/time.Since(t0).Seconds(), 0), nil // a busy machine wakes the timer late
}

func selfCPU() time.Duration {
	u, _ := readProc(os.Getpid())
	return u.cpu
}

// waitQuiet waits, at most maxWait, until other processes use less than threshold % of a core over a second:
// on a shared machine another tenant's build or test run takes CPU from both the server and the generator
// and disturbs every figure. It returns the last load it saw.
func waitQuiet(ctx context.Context, maxWait time.Duration, threshold float64, stderr io.Writer) (float64, error) {
	deadline := time.Now().Add(maxWait)
	for {
		load, err := otherLoad(ctx, time.Second)
		if err != nil || load < threshold || !time.Now().Before(deadline) {
			return load, err
		}
		fmt.Fprintf(stderr, "other processes use %.0f %% of a core; waiting up to %v for a quieter machine\n",
			load, time.Until(deadline).Round(time.Second))
	}
}
