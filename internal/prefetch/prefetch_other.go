//go:build !amd64 && !arm64

package prefetch

import "unsafe"

// Lines does nothing here: no prefetch instruction is wired for this architecture.
func Lines(p unsafe.Pointer, n uintptr) {}
