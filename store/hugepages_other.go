//go:build !linux

package store

// adviseHugePages does nothing where riskd knows of no transparent huge pages.
func adviseHugePages([]byte) {}
