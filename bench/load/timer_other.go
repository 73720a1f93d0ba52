//go:build !linux

package main

import "time"

// sleeper falls back to time.Sleep where there is no timerfd; sends may then be late by the platform's timer
// granularity, which the report's send-lag column shows.
type sleeper struct{}

func newSleeper() (*sleeper, error) { return &sleeper{}, nil }

func (*sleeper) Sleep(d time.Duration) error {
	time.Sleep(d)
	return nil
}

func (*sleeper) Close() error { return nil }
