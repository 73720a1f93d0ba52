package rules

import (
	"errors"
	"time"
)

// ErrBusy is returned by Gate.Do when another job held the gate for as long as the caller would wait.
var ErrBusy = errors.New("rule work in progress")

// Gate runs rule work (compiling a set, running its tests, backtesting it) one job at a time. A rule's cost
// is bounded when it compiles, but a set of 4,096 rules, 100,000 test steps or a backtest over a large log still
// takes a core for a while; run side by side, such jobs would take every core from the request path, and their
// memory would add up. Decisions never pass through a Gate: they read the live Set, which a job replaces
// atomically when it is done. One Gate is shared by everything in a process that builds rule sets.
type Gate struct {
	slot chan struct{}
}

// NewGate returns an open Gate.
func NewGate() *Gate { return &Gate{slot: make(chan struct{}, 1)} }

// Do runs job once no other job of g runs, and returns its error. It waits at most wait for its turn, then
// gives up with ErrBusy without running job.
func (g *Gate) Do(wait time.Duration, job func() error) error {
	select {
	case g.slot <- struct{}{}:
	default:
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case g.slot <- struct{}{}:
		case <-t.C:
			return ErrBusy
		}
	}
	defer func() { <-g.slot }()
	return job()
}
