package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/lists"
)

// loadLists loads every list file of dir into reg. A file is named NAME.KIND.txt (blocklist.ip.txt,
// partners.asn.txt, embargo.country.txt, stolen.device.txt, vips.user.txt) and holds one entry per line.
// Lists made through the API are kept; a list of a file is replaced by its content.
func loadLists(reg *lists.Registry, dir string) (int, error) {
	if dir == "" {
		return 0, nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return 0, err
	}
	for _, path := range files {
		base := strings.TrimSuffix(filepath.Base(path), ".txt")
		name, kindName, ok := strings.Cut(base, ".")
		kind, okKind := lists.ParseKind(kindName)
		if !ok || !okKind {
			return 0, fmt.Errorf("lists: %s: name list files NAME.KIND.txt, KIND one of ip, asn, country, device, user, value", path)
		}
		if err := reg.LoadFile(name, kind, path); err != nil {
			return 0, err
		}
	}
	return len(files), nil
}

// newListRegistry returns the lists of --lists, keyed like state.
func newListRegistry(h features.Hasher, dir string) (*lists.Registry, error) {
	reg := lists.NewRegistry(lists.Hashers{User: h.User, Device: h.Device}, nil)
	if _, err := os.Stat(dir); dir != "" && err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	if _, err := loadLists(reg, dir); err != nil {
		return nil, err
	}
	return reg, nil
}

// maintainLists expires list entries and exceptions as their time comes, until stop is closed.
func maintainLists(reg *lists.Registry, log *slog.Logger, stop <-chan struct{}) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := reg.Maintain(); err != nil {
				log.Error("lists maintenance", "error", err.Error())
			}
		}
	}
}
