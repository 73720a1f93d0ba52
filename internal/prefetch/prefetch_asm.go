//go:build amd64 || arm64

package prefetch

import "unsafe"

// Lines asks the CPU to load the cache lines that hold the n bytes at p into its caches, without waiting for
// them. p may be any address, even one not mapped: a prefetch never faults. n == 0 still prefetches p's line.
//
//go:noescape
func Lines(p unsafe.Pointer, n uintptr)
