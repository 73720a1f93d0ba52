package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxFileBytes bounds one rule file: rules are written by people, and a file this large is a mistake.
const maxFileBytes = 8 << 20

// Load compiles the rule file at path or, when path is a directory, every *.yaml file directly in it, sorted
// by name, as one set (see CompileSources). An empty path loads the built-in set.
func Load(path string) (*Set, error) {
	if path == "" {
		return Default()
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if !st.IsDir() {
		data, err := readFile(path)
		if err != nil {
			return nil, err
		}
		return Compile(path, data)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	var srcs []Source
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name := filepath.Join(path, e.Name())
		data, err := readFile(name)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, Source{Name: name, Data: data})
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("rules: %s: no *.yaml rule files in the directory", path)
	}
	slices.SortFunc(srcs, func(a, b Source) int { return strings.Compare(a.Name, b.Name) })
	return CompileSources(path, srcs)
}

func readFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if st.Size() > maxFileBytes {
		return nil, fmt.Errorf("rules: %s: %d bytes, at most %d", path, st.Size(), maxFileBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return data, nil
}
