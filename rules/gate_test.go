package rules_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/rules"
)

// TestGateRunsOneJobAtATime: jobs never overlap, a caller that cannot wait long enough gets ErrBusy without
// its job running, and a job that panics frees the gate.
func TestGateRunsOneJobAtATime(t *testing.T) {
	g := rules.NewGate()
	var running, most atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := g.Do(10*time.Second, func() error {
				n := running.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(5 * time.Millisecond)
				running.Add(-1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d jobs ran at once", most.Load())
	}

	hold, release := make(chan struct{}), make(chan struct{})
	go g.Do(time.Second, func() error { close(hold); <-release; return nil })
	<-hold
	ran := false
	if err := g.Do(20*time.Millisecond, func() error { ran = true; return nil }); !errors.Is(err, rules.ErrBusy) || ran {
		t.Fatalf("while held: err %v, ran %v", err, ran)
	}
	close(release)
	want := errors.New("job failed")
	if err := g.Do(time.Second, func() error { return want }); err != want {
		t.Fatalf("the job's error: %v", err)
	}

	func() {
		defer func() { recover() }()
		g.Do(time.Second, func() error { panic("job panicked") })
	}()
	if err := g.Do(20*time.Millisecond, func() error { return nil }); err != nil {
		t.Fatalf("after a panicking job: %v", err)
	}
}
