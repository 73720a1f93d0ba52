package uafile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Agent is one user agent and its share of traffic.
type Agent struct {
	UA     string
	Weight float64 // > 0
	Mobile bool    // the device category is a phone or tablet
}

// MaxLen is the longest user agent kept: riskd refuses longer ones.
const MaxLen = 1024

// Shared is where the shared folder beside the repository rooted at root keeps the file.
func Shared(root string) string {
	return filepath.Join(root, "..", "shared", "ua", "real-user-agents.tsv")
}

// Load reads the file at path (see Read).
func Load(path string) ([]Agent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	agents, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return agents, nil
}

// Read parses the format, in file order. A header line is skipped; user agents that are empty, longer than
// MaxLen or of weight 0 are left out (they would never be sent); a malformed line or a file with no user agent
// is an error naming the line.
func Read(r io.Reader) ([]Agent, error) {
	var agents []Agent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		cols := strings.Split(sc.Text(), "\t")
		if line == 1 && cols[0] == "weight" {
			continue
		}
		if len(cols) < 5 {
			return nil, fmt.Errorf("line %d: want 5 tab-separated columns, got %d", line, len(cols))
		}
		w, err := strconv.ParseFloat(cols[0], 64)
		if err != nil || w < 0 {
			return nil, fmt.Errorf("line %d: weight %q is not a non-negative number", line, cols[0])
		}
		if ua := cols[4]; ua != "" && len(ua) <= MaxLen && w > 0 {
			agents = append(agents, Agent{UA: ua, Weight: w, Mobile: cols[1] == "mobile" || cols[1] == "tablet"})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(agents) == 0 {
		return nil, fmt.Errorf("no user agents")
	}
	return agents, nil
}

// Builtin is the fallback when the file is absent: a few current browsers with rough shares.
func Builtin() []Agent {
	return []Agent{
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1", 0.30, true},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36", 0.25, false},
		{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Mobile Safari/537.36", 0.20, true},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Safari/605.1.15", 0.10, false},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0", 0.10, false},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:143.0) Gecko/20100101 Firefox/143.0", 0.05, false},
	}
}
