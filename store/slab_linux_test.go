package store

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestSlabsLiveOutsideTheHeap: an arena's slabs are mapped outside the Go heap, so that gigabytes of state
// do not set the collector's pace, and are unmapped once nothing uses the arena.
func TestSlabsLiveOutsideTheHeap(t *testing.T) {
	a := newChunkArena()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	for range aloneChunks + 2*slabBytes/shelfChunkBytes {
		*(*byte)(a.get()) = 1 // touched, as a record would be
	}
	runtime.ReadMemStats(&ms)
	if len(a.mapped.list) != 2 {
		t.Fatalf("%d slabs mapped, want 2", len(a.mapped.list))
	}
	// The chunks allocated one by one before the first slab (1 MiB) are the heap's; the 16 MiB of slabs are not.
	if grown := int64(ms.HeapAlloc) - int64(before); grown > 3<<20 {
		t.Fatalf("the Go heap grew by %d bytes for %d bytes of slabs", grown, 2*slabBytes)
	}
	first := uintptr(unsafe.Pointer(&a.mapped.list[0][0]))
	if !mapped(t, first) {
		t.Fatalf("no mapping holds %#x", first)
	}
	a = nil
	deadline := time.Now().Add(5 * time.Second)
	for mapped(t, first) {
		if time.Now().After(deadline) {
			t.Fatal("the slabs of an arena nothing uses are still mapped")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// mapped reports whether a mapping of this process holds addr.
func mapped(t *testing.T, addr uintptr) bool {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		var from, to uintptr
		if _, err := fmt.Sscanf(l, "%x-%x", &from, &to); err == nil && from <= addr && addr < to {
			return true
		}
	}
	return false
}
