package lists

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxLineBytes bounds one line of a list file.
const maxLineBytes = 4096

// ParseFile reads list entries, one per line, in the form threat feeds publish:
//
//	# comments and blank lines are skipped
//	192.0.2.7            a bare value
//	198.51.100.0/24  3   a count column (how many sources name it), as in ipsum
//	AS64500  # note      an inline note after '#'
//
// Errors name the line. Values are normalised for kind k.
func ParseFile(r io.Reader, k Kind, h Hashers) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	var out []Entry
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		var note string
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text, note = text[:i], strings.TrimSpace(text[i+1:])
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		v, err := normalize(k, fields[0], h)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		e := Entry{Value: v, Note: note}
		if len(fields) > 1 {
			n, err := strconv.Atoi(fields[1])
			if err != nil || n < 0 || len(fields) > 2 {
				return nil, fmt.Errorf("line %d: %w: want a value and an optional count", line, ErrValue)
			}
			e.Count = n
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the list: %w", err)
	}
	return out, nil
}
