package features

import "github.com/riskd/riskd/store"

// NewState returns empty in-memory state (store.Memory); maxKeys bounds each velocity table. Durable and shared
// state are opened with store.OpenEmbedded and store.OpenRedis.
func NewState(maxKeys int) store.State {
	return store.NewMemory(maxKeys)
}
