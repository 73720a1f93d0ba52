package prefetch

import (
	"testing"
	"unsafe"
)

// A prefetch is a hint: any address, even nil (never mapped), must neither fault nor change memory.
func TestLinesAnyAddress(t *testing.T) {
	buf := make([]byte, 1000)
	for i := range buf {
		buf[i] = byte(i)
	}
	Lines(unsafe.Pointer(&buf[0]), uintptr(len(buf)))
	Lines(unsafe.Pointer(&buf[3]), 0)
	Lines(nil, 0)
	Lines(nil, 4*LineSize)
	for i := range buf {
		if buf[i] != byte(i) {
			t.Fatalf("byte %d changed to %d", i, buf[i])
		}
	}
}

func BenchmarkLines(b *testing.B) {
	buf := make([]byte, 256)
	for b.Loop() {
		Lines(unsafe.Pointer(&buf[0]), uintptr(len(buf)))
	}
}
