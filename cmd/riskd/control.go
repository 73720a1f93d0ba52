package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/server"
)

// openControl opens the control store where the state is (Redis shared by the instances, else a file in the
// data directory, else memory) and returns the plane serving its documents on eng and listReg.
func openControl(c serveConfig, eng *engine.Engine, listReg *lists.Registry, gate *rules.Gate, reg *metrics.Set, log *slog.Logger) (*control.Plane, string, error) {
	var st control.Store
	kind := "memory"
	switch {
	case c.redis != "":
		access, err := redisAccessOf(c, log)
		if err != nil {
			return nil, "", err
		}
		if st, err = control.OpenRedis(control.RedisConfig{Addrs: c.redisAddrs(), Username: access.user, Password: access.password, TLS: access.tls}); err != nil {
			return nil, "", err
		}
		kind = "redis"
	case c.dataDir != "":
		var err error
		if st, err = control.OpenBolt(c.dataDir); err != nil {
			return nil, "", err
		}
		kind = "bolt"
	default:
		st = control.NewMemory()
	}
	p, err := control.New(control.Config{Store: st, Metrics: reg, Logger: log, PollInterval: c.controlPoll,
		Documents:    server.ControlDocuments(eng, listReg, gate, reloadGateWait, server.VersionBases(st.Get)),
		RulesVersion: func() string { return eng.Rules().Version }, InstanceID: c.instanceName})
	if err != nil {
		st.Close()
		return nil, "", err
	}
	return p, kind, nil
}

// builtinAuthor is the author of the versions that are the built-in rule set.
const builtinAuthor = "built-in"

// errSeeded ends a change that another instance made first: the same file, imported already.
var errSeeded = errors.New("imported already")

// seeded is what importing the files changed: a line per new version, for the log and the audit.
type seeded struct {
	doc     string
	version control.Version
}

// seedFiles imports the files riskd was started with into the control plane: each file whose content differs
// from what was last imported from it (by digest, kept in the versions' seeds) becomes a new version of its
// document, authored file:<path>; an unchanged file is never imported again, so that reloads (SIGHUP, a
// changed GeoIP database) never revert a change made through the API. Without --rules the built-in set is
// version 1 of the rules document, and a newer built-in set (a new riskd) a new version while nobody replaced it.
// A file that does not compile, or whose tests fail, is refused with an error, and nothing of it is imported.
func seedFiles(ctx context.Context, p *control.Plane, c serveConfig, listReg *lists.Registry, why string) ([]seeded, error) {
	var done []seeded
	var errs []error
	for _, d := range []struct{ doc, path string }{{control.Rules, c.rules}, {control.Shadow, c.shadowRules}} {
		v, err := seedRules(ctx, p, d.doc, d.path, why)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", d.doc, err))
		case v != nil:
			done = append(done, seeded{d.doc, *v})
		}
	}
	if v, err := seedLists(ctx, p, c.lists, listReg, why); err != nil {
		errs = append(errs, fmt.Errorf("lists: %w", err))
	} else if v != nil {
		done = append(done, seeded{control.Lists, *v})
	}
	return done, errors.Join(errs...)
}

// ruleInput reads the rule file or directory at path (as rules.Load does) as the files of a version, with the
// digest of their names and content.
func ruleInput(path string) ([]control.File, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("rules: %w", err)
	}
	names := []string{path}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, "", fmt.Errorf("rules: %w", err)
		}
		names = names[:0]
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") && !strings.HasPrefix(e.Name(), ".") {
				names = append(names, filepath.Join(path, e.Name()))
			}
		}
		slices.Sort(names)
	}
	h := sha256.New()
	var files []control.File
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return nil, "", fmt.Errorf("rules: %w", err)
		}
		files = append(files, control.File{Name: n, Data: string(data)})
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(data))
		h.Write(data)
	}
	if len(files) == 0 {
		return nil, "", fmt.Errorf("rules: %s: no *.yaml rule files in the directory", path)
	}
	return files, "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// seedRules imports the rule file at path (empty: the built-in set for the live document, nothing for the
// shadow) into doc when it changed since it was last imported; it returns the new version, or nil.
func seedRules(ctx context.Context, p *control.Plane, doc, path, why string) (*control.Version, error) {
	var files []control.File
	key, author, digest := path, "file:"+path, ""
	switch {
	case path != "":
		var err error
		if files, digest, err = ruleInput(path); err != nil {
			return nil, err
		}
	case doc == control.Shadow:
		return nil, nil
	default:
		set, err := rules.Default()
		if err != nil {
			return nil, err
		}
		key, author, digest = builtinAuthor, builtinAuthor, set.Version
	}
	latest, err := p.Latest(ctx, doc)
	switch {
	case errors.Is(err, control.ErrNoVersion):
	case err != nil:
		return nil, err
	case latest.Seeds[key] == digest:
		return nil, nil // unchanged since it was imported
	case key == builtinAuthor && latest.Author != builtinAuthor:
		return nil, nil // someone replaced the built-in set: a new riskd's built-in set does not replace theirs
	}
	prepared, label, err := p.Prepare(doc, files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", author, err)
	}
	v, err := p.Change(ctx, doc, func(cur *control.Version) (control.Change, error) {
		if cur != nil && cur.Seeds[key] == digest {
			return control.Change{}, errSeeded
		}
		return control.Change{Author: author, Note: why, Action: control.ActionFile, Files: files, Prepared: prepared,
			Label: label, Seeds: map[string]string{key: digest}}, nil
	})
	if errors.Is(err, errSeeded) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// listFile is one list file of --lists: NAME.KIND.txt.
type listFile struct {
	path, name, digest string
	kind               lists.Kind
}

// readListDir names the list files of dir and digests their content.
func readListDir(dir string) ([]listFile, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	var out []listFile
	for _, path := range paths {
		base := strings.TrimSuffix(filepath.Base(path), ".txt")
		name, kindName, ok := strings.Cut(base, ".")
		kind, okKind := lists.ParseKind(kindName)
		if !ok || !okKind {
			return nil, fmt.Errorf("lists: %s: name list files NAME.KIND.txt, KIND one of ip, asn, country, device, user, value", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("lists: %w", err)
		}
		sum := sha256.Sum256(data)
		out = append(out, listFile{path: path, name: name, kind: kind, digest: "sha256:" + hex.EncodeToString(sum[:])})
	}
	return out, nil
}

// seedLists imports the list files of dir that changed since they were last imported into the lists
// document, as one new version: each replaces its list whole; the other lists, those made through the API
// among them, stay as they are. It returns the new version, or nil.
func seedLists(ctx context.Context, p *control.Plane, dir string, listReg *lists.Registry, why string) (*control.Version, error) {
	if dir == "" {
		return nil, nil
	}
	files, err := readListDir(dir)
	if err != nil {
		return nil, err
	}
	changed := func(cur *control.Version) []listFile {
		var out []listFile
		for _, f := range files {
			if cur == nil || cur.Seeds[f.path] != f.digest {
				out = append(out, f)
			}
		}
		return out
	}
	latest, err := p.Latest(ctx, control.Lists)
	switch {
	case errors.Is(err, control.ErrNoVersion):
		if len(files) == 0 {
			return nil, nil
		}
	case err != nil:
		return nil, err
	case len(changed(&latest)) == 0:
		return nil, nil
	}
	v, err := p.Change(ctx, control.Lists, func(cur *control.Version) (control.Change, error) {
		todo := changed(cur)
		if len(todo) == 0 {
			return control.Change{}, errSeeded
		}
		scratch := listReg.Fresh()
		seeds := map[string]string{}
		if cur != nil {
			prepared, _, err := p.Prepare(control.Lists, cur.Files)
			if err != nil {
				return control.Change{}, fmt.Errorf("the newest version: %w", err)
			}
			if err := scratch.ReplaceLists(prepared.([]lists.Info)); err != nil {
				return control.Change{}, err
			}
			maps.Copy(seeds, cur.Seeds)
		}
		var names []string
		for _, f := range todo {
			if err := scratch.LoadFile(f.name, f.kind, f.path); err != nil {
				return control.Change{}, err
			}
			seeds[f.path] = f.digest
			names = append(names, filepath.Base(f.path))
		}
		all := scratch.List(true)
		docFiles, err := server.ListsDocument(all)
		return control.Change{Author: "file:" + dir, Note: why + ": " + strings.Join(names, ", "), Action: control.ActionFile,
			Files: docFiles, Prepared: all, Label: fmt.Sprintf("%d lists", len(all)), Seeds: seeds}, err
	})
	if errors.Is(err, errSeeded) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// controlStartTimeout bounds the control plane's work at start-up (importing files, applying the newest
// versions); beyond it riskd serves what it has and catches up by polling.
const controlStartTimeout = 30 * time.Second

// startControl imports the files riskd was started with that changed since they were last imported, applies
// the newest version of every document, and starts polling for newer ones. A file refused (it does not compile
// or its tests fail) stops riskd, as it always did; a control store out of reach does not: riskd serves its
// files and catches up when the store answers.
func startControl(p *control.Plane, c serveConfig, listReg *lists.Registry, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), controlStartTimeout)
	defer cancel()
	done, err := seedFiles(ctx, p, c, listReg, "read at start-up")
	for _, d := range done {
		log.Info("a file is a new version", "document", d.doc, "version", d.version.Number, "label", d.version.Label,
			"author", d.version.Author)
	}
	switch {
	case errors.Is(err, control.ErrUnavailable):
		log.Error("control store unreachable at start-up: serving the files until it answers", "error", err.Error())
	case err != nil:
		return err
	}
	if err := p.Sync(ctx); err != nil {
		log.Error("control: the newest versions could not all be applied; see /readyz", "error", err.Error())
	}
	p.Start()
	return nil
}
