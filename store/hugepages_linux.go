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

// newSlab returns n zeroed bytes mapped outside the Go heap (anonymous, private), and whether they were; where
// the mapping is refused it falls back to the heap.
func newSlab(n int) ([]byte, bool) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]byte, n), false
	}
	return b, true
}

// freeSlab unmaps a slab newSlab mapped.
func freeSlab(b []byte) { _ = syscall.Munmap(b) }
