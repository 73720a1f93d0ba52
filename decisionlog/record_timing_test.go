package decisionlog

import (
	"testing"

	"github.com/riskd/riskd/internal/jsonenc"
)

func BenchmarkAppendJSON(b *testing.B) {
	set := testSet(&testing.T{})
	r := record(set, 1)
	buf := make([]byte, 0, 4096)
	enc := jsonenc.NewVectorEncoder()
	b.ReportAllocs()
	for b.Loop() {
		buf = r.AppendJSON(buf[:0], enc)
	}
}
