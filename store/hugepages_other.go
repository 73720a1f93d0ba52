//go:build !linux

package store

// adviseHugePages does nothing where riskd knows of no transparent huge pages.
func adviseHugePages([]byte) {}

// newSlab returns n zeroed bytes from the Go heap: elsewhere than Linux riskd maps no memory of its own.
func newSlab(n int) ([]byte, bool) { return make([]byte, n), false }

func freeSlab([]byte) {}
