package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// measure plays profile p with driver d against the server with pid (0 when unknown) and summarises it. The
// server's and the generator's CPU and memory are sampled every 250 ms; per-second progress goes to progress
// unless it is nil.
func measure(ctx context.Context, d *driver, p Profile, pid int, label string, lateAfter time.Duration, progress io.Writer) (runResult, error) {
	rec := newRecorder(p, lateAfter, d.timeout+2*time.Second)
	if err := d.prepare(); err != nil {
		return runResult{}, err
	}
	start := time.Now()
	metricsAddr := ""
	if pid > 0 {
		metricsAddr = d.addr // the server the generator starts or is told the pid of; bare answers no metrics
	}
	smp := startSampler(pid, metricsAddr, start, 250*time.Millisecond)
	stopProgress := showProgress(progress, label, p, rec, start)
	// In closed loop the generator is saturated by design and the meter would only time its own run queue.
	stopHiccups, hiccupsDone := make(chan struct{}), make(chan struct{})
	if p.Closed {
		close(hiccupsDone)
	} else {
		go meterHiccups(start, rec, stopHiccups, hiccupsDone)
	}
	err := d.run(ctx, p, start, rec)
	end := time.Since(start)
	// Idle keep-alive connections would otherwise linger on the server for a minute after the run.
	d.client.CloseIdleConnections()
	close(stopHiccups)
	<-hiccupsDone
	stopProgress()
	samples := smp.Stop()
	if err == nil {
		err = ctx.Err()
	}
	return summarize(label, p, rec, samples, end), err
}

// showProgress prints each finished second of the run until the returned function is called.
func showProgress(w io.Writer, label string, p Profile, rec *Recorder, start time.Time) (stop func()) {
	if w == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			at := time.Duration(i) * time.Second
			s := rec.second(at)
			fmt.Fprintf(w, "%s %3ds %-8s offered %7s answered %7s p99 %6s ms errors %d shed %d late %d dropped %d stall %s ms\n",
				label, i, p.Phases[p.PhaseAt(at)].Name, thousands(s.offered.Load()), thousands(s.accepted.Load()),
				ms(s.latency.Quantile(0.99)), s.errors(), s.shed.Load(), s.late.Load(), s.dropped.Load(),
				ms(time.Duration(s.stall.Load())))
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
