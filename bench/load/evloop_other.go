//go:build !linux

package main

import (
	"context"
	"errors"
	"time"
)

// Elsewhere the generator uses fasthttp's client (driver.go).
const loopClientAvailable = false

func (d *driver) prepare() error { return nil }

func (d *driver) runLoop(context.Context, Profile, time.Time, *Recorder) error {
	return errors.New("the event-loop client needs Linux")
}

type loop struct{}
