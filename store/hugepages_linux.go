package store

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on the architectures riskd runs on.
const hugePage = 2 << 20

// adviseHugePages asks the kernel to back the whole huge pages within b with huge pages when they are first
// touched. Where transparent huge pages are off (or "always" already) it changes nothing; it is only advice.
func adviseHugePages(b []byte) {
	start := (uintptr(unsafe.Pointer(unsafe.SliceData(b))) + hugePage - 1) &^ (hugePage - 1)
	end := (uintptr(unsafe.Pointer(unsafe.SliceData(b))) + uintptr(len(b))) &^ (hugePage - 1)
	if end > start {
		off := start - uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		syscall.Madvise(b[off:off+(end-start)], syscall.MADV_HUGEPAGE)
	}
}
