package main

import (
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// watchFiles calls changed whenever the files under paths differ from the fingerprint last (a path may be a file
// or a directory), by polling their names, sizes and modification times every interval, until stop is closed. Polling needs no
// platform notification API and sees files replaced by rename, as geoipupdate and deploy tools replace them.
func watchFiles(paths []string, last uint64, interval time.Duration, changed func(), stop <-chan struct{}) {
	if interval <= 0 || len(paths) == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if fp := fingerprint(paths); fp != last {
				last = fp
				changed()
			}
		}
	}
}

// fingerprint hashes the names, sizes and modification times of the files under paths.
func fingerprint(paths []string) uint64 {
	h := fnv.New64a()
	add := func(path string, info fs.FileInfo) {
		h.Write([]byte(path))
		var b [16]byte
		size, mod := uint64(info.Size()), uint64(info.ModTime().UnixNano())
		for i := range 8 {
			b[i], b[8+i] = byte(size>>(8*i)), byte(mod>>(8*i))
		}
		h.Write(b[:])
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			h.Write([]byte("missing:" + p))
			continue
		}
		if !info.IsDir() {
			add(p, info)
			continue
		}
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				add(filepath.Join(p, e.Name()), fi)
			}
		}
	}
	return h.Sum64()
}
