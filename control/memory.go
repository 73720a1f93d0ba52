package control

import (
	"context"
	"sync"
)

// Memory is a Store in the process's memory: versions and history last until it exits. It serves riskd
// without --data-dir or --redis, where nothing else survives a restart either.
type Memory struct {
	mu   sync.Mutex
	docs map[string]map[uint64]Version
	head map[string]uint64

	beats memoryBeats // the heartbeats of the instances sharing it (instances.go)
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{docs: map[string]map[uint64]Version{}, head: map[string]uint64{}}
}

// Heads implements Store.
func (m *Memory) Heads(_ context.Context, docs []string) ([]uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]uint64, len(docs))
	for i, d := range docs {
		out[i] = m.head[d]
	}
	return out, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, doc string, n uint64) (Version, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.docs[doc][n]
	if !ok {
		return Version{}, ErrNoVersion
	}
	return v, nil
}

// Append implements Store.
func (m *Memory) Append(_ context.Context, prev uint64, v Version) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.head[v.Document] != prev {
		return ErrConflict
	}
	v.Number = prev + 1
	if m.docs[v.Document] == nil {
		m.docs[v.Document] = map[uint64]Version{}
	}
	m.docs[v.Document][v.Number] = v
	m.head[v.Document] = v.Number
	if v.Number > KeepVersions {
		delete(m.docs[v.Document], v.Number-KeepVersions)
	}
	return nil
}

// Close implements Store.
func (m *Memory) Close() error { return nil }
