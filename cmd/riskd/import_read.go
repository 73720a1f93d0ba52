package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/valyala/fastjson"
)

// Input formats of riskd import.
const (
	formatNDJSON = "ndjson"
	formatCSV    = "csv"
)

// importMaxLine bounds an NDJSON line, and is the size of the input buffers: a row holds a few hundred bytes, so
// a longer line is a broken export (a missing newline), refused alone rather than buffered without end.
const importMaxLine = 256 << 10

// formatOf returns the format of path from its extension (after a .gz), or "" when the extension says nothing.
func formatOf(path string) string {
	switch strings.ToLower(filepath.Ext(strings.TrimSuffix(strings.ToLower(path), ".gz"))) {
	case ".ndjson", ".jsonl":
		return formatNDJSON
	case ".csv":
		return formatCSV
	}
	return ""
}

// openInput opens path ("-": stdin) and, when it starts with gzip's magic bytes, decompresses it: the content
// says whether it is compressed, so stdin and a misnamed file work too. A .gz name that is not gzip is refused.
func openInput(path string, stdin io.Reader) (io.Reader, func() error, error) {
	src, closeSrc := stdin, func() error { return nil }
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		src, closeSrc = f, f.Close
	}
	br := bufio.NewReaderSize(src, importMaxLine)
	magic, _ := br.Peek(2)
	if !bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		if strings.HasSuffix(strings.ToLower(path), ".gz") {
			closeSrc()
			return nil, nil, fmt.Errorf("%s: not gzip data", path)
		}
		return br, closeSrc, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		closeSrc()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return bufio.NewReaderSize(zr, importMaxLine), func() error { return errors.Join(zr.Close(), closeSrc()) }, nil
}

// rowFunc receives each row in file order: the row when it parsed, else why not. It returns false to stop.
// The row and its strings are valid only during the call.
type rowFunc func(line int, row *importRow, bad *rowError) bool

// csvHeader is what a CSV file's header says: which column each position is, and what it ignores.
type csvHeader struct {
	cols    []int // per position: a column index, or -1
	ignored []string
}

// parseCSVHeader reads the header row. Unknown columns are ignored (legacy exports carry many); a header without
// user and time, or with a known column twice, is an error of the whole file.
func parseCSVHeader(rec []string) (csvHeader, error) {
	h := csvHeader{cols: make([]int, len(rec))}
	var have [numCols]bool
	for i, name := range rec {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff") // spreadsheets start UTF-8 CSV with a byte-order mark
		}
		name = strings.ToLower(strings.TrimSpace(name))
		c := colIndex(name)
		h.cols[i] = c
		switch {
		case c < 0:
			h.ignored = append(h.ignored, name)
		case have[c]:
			return h, fmt.Errorf("header: column %q appears twice", name)
		default:
			have[c] = true
		}
	}
	if !have[colUser] || !have[colTime] {
		return h, fmt.Errorf("header: needs the columns user and time (known columns: %s); the first line must be the header", strings.Join(colNames[:], ", "))
	}
	return h, nil
}

// readCSV reads CSV with a header row. onHeader is told which columns are ignored, once.
func readCSV(in io.Reader, now int64, onHeader func(ignored []string), fn rowFunc) error {
	r := csv.NewReader(in)
	r.ReuseRecord = true
	rec, err := r.Read()
	if err == io.EOF {
		return errors.New("empty file: no header row")
	}
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	h, err := parseCSVHeader(rec)
	if err != nil {
		return err
	}
	onHeader(h.ignored)
	var row importRow
	lastLine := 1
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		var line int
		var bad *rowError
		switch pe := (*csv.ParseError)(nil); {
		case err == nil:
			line, _ = r.FieldPos(0)
			bad = parseCSVRow(h.cols, rec, now, &row)
		case errors.As(err, &pe):
			// A malformed record (a stray quote, a missing cell) is one bad row; the reader has moved past it.
			line = pe.StartLine
			if line <= lastLine {
				return err // no progress: stop rather than spin
			}
			bad = &rowError{Reason: pe.Err.Error()}
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				bad.Reason = fmt.Sprintf("%d cells, the header has %d", len(rec), len(h.cols))
			}
		default:
			return err
		}
		lastLine = line
		if bad != nil {
			bad.Line = line
			if !fn(line, nil, bad) {
				return nil
			}
			continue
		}
		if !fn(line, &row, nil) {
			return nil
		}
	}
}

// readNDJSON reads one JSON object per line; blank lines are skipped.
func readNDJSON(in io.Reader, now int64, fn rowFunc) error {
	br, ok := in.(*bufio.Reader)
	if !ok || br.Size() < importMaxLine {
		br = bufio.NewReaderSize(in, importMaxLine)
	}
	var p fastjson.Parser
	var row importRow
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) { // skip the rest of the line
				_, err = br.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return err
			}
			if !fn(line, nil, &rowError{Line: line, Reason: fmt.Sprintf("line longer than %d bytes", importMaxLine)}) || err == io.EOF {
				return nil
			}
			continue
		}
		if err != nil && err != io.EOF {
			return err
		}
		if b = bytes.TrimSpace(b); len(b) > 0 {
			bad := parseNDJSONRow(&p, b, now, &row)
			if bad != nil {
				bad.Line = line
				if !fn(line, nil, bad) {
					return nil
				}
			} else if !fn(line, &row, nil) {
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}
