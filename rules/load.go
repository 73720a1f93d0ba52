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
	return LoadPaths([]string{path})
}

// LoadPaths compiles the files at paths as one set: each path a rule file, or a directory whose *.yaml files
// (directly in it, sorted by name) are taken in its place. Files keep the order given. The set is named by
// its one path, or by the paths joined with commas.
func LoadPaths(paths []string) (*Set, error) {
	var srcs []Source
	for _, path := range paths {
		more, err := sourcesAt(path)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, more...)
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("rules: no rule files given")
	}
	return CompileSources(strings.Join(paths, ","), srcs)
}

// sourcesAt reads the rule file at path, or the *.yaml files of the directory at path, sorted by name.
func sourcesAt(path string) ([]Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if !st.IsDir() {
		data, err := readFile(path)
		if err != nil {
			return nil, err
		}
		return []Source{{Name: path, Data: data}}, nil
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
	return srcs, nil
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
