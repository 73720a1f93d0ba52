package control_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/store/storetest"
)

// stores returns one of each Store; Redis ones share one real redis-server.
func stores(t *testing.T) map[string]func() control.Store {
	r := storetest.StartRedis(t)
	dir := t.TempDir()
	var bolt *control.Bolt
	return map[string]func() control.Store{
		"memory": func() control.Store { return control.NewMemory() },
		"bolt": func() control.Store {
			if bolt == nil {
				var err error
				if bolt, err = control.OpenBolt(dir); err != nil {
					t.Fatal(err)
				}
			}
			return bolt
		},
		"redis": func() control.Store {
			s, err := control.OpenRedis(control.RedisConfig{Addrs: []string{r.Addr}})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

func TestStoreAppendAndBound(t *testing.T) {
	ctx := context.Background()
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open()
			defer s.Close()
			if err := s.Append(ctx, 0, control.Version{Document: "rules", Author: "a", Files: []control.File{{Name: "f", Data: "1"}}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Append(ctx, 0, control.Version{Document: "rules", Author: "b"}); !errors.Is(err, control.ErrConflict) {
				t.Fatalf("a second version 1: %v, want ErrConflict", err)
			}
			v, err := s.Get(ctx, "rules", 1)
			if err != nil || v.Number != 1 || v.Author != "a" || v.Files[0].Data != "1" {
				t.Fatalf("version 1: %+v %v", v, err)
			}
			for n := uint64(1); n < control.KeepVersions+5; n++ {
				if err := s.Append(ctx, n, control.Version{Document: "rules", Note: fmt.Sprint(n + 1)}); err != nil {
					t.Fatal(err)
				}
			}
			heads, err := s.Heads(ctx, []string{"rules", "lists"})
			if err != nil || heads[0] != control.KeepVersions+5 || heads[1] != 0 {
				t.Fatalf("heads %v %v", heads, err)
			}
			if _, err := s.Get(ctx, "rules", 5); !errors.Is(err, control.ErrNoVersion) {
				t.Fatalf("version 5 of %d: %v, want dropped", heads[0], err)
			}
			if v, err := s.Get(ctx, "rules", 6); err != nil || v.Note != "6" {
				t.Fatalf("version 6, the oldest kept: %+v %v", v, err)
			}
		})
	}
}

// served is what a test document installs: the data of its one file.
type served struct {
	mu sync.Mutex
	v  string
}

func (s *served) get() string { s.mu.Lock(); defer s.mu.Unlock(); return s.v }

// testDoc refuses files whose data starts with "bad".
func testDoc(s *served) control.Document {
	return control.Document{Name: "rules",
		Prepare: func(files []control.File) (any, string, error) {
			if len(files) != 1 || strings.HasPrefix(files[0].Data, "bad") {
				return nil, "", errors.New("does not compile")
			}
			return files[0].Data, files[0].Data, nil
		},
		Install: func(p any) { s.mu.Lock(); s.v = p.(string); s.mu.Unlock() },
	}
}

func put(t *testing.T, p *control.Plane, data, author string) control.Version {
	t.Helper()
	v, err := p.Change(context.Background(), "rules", func(*control.Version) (control.Change, error) {
		return control.Change{Author: author, Note: "why " + data, Action: control.ActionPut,
			Files: []control.File{{Name: "r.yaml", Data: data}}, Prepared: data, Label: data}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestTwoPlanesShareRedis: a version committed by one instance serves on the other within 2 s; a rollback
// too; a version one instance cannot prepare leaves it serving the old one, saying so in Status and metrics.
func TestTwoPlanesShareRedis(t *testing.T) {
	r := storetest.StartRedis(t)
	var a, b served
	open := func(s *served, reg *metrics.Set) *control.Plane {
		st, err := control.OpenRedis(control.RedisConfig{Addrs: []string{r.Addr}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := control.New(control.Config{Store: st, Documents: []control.Document{testDoc(s)}, Metrics: reg,
			PollInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		p.Start()
		t.Cleanup(func() { p.Close() })
		return p
	}
	regB := metrics.NewSet()
	pa, pb := open(&a, metrics.NewSet()), open(&b, regB)
	v1 := put(t, pa, "one", "alice")
	if a.get() != "one" {
		t.Fatalf("the committing instance serves %q", a.get())
	}
	took := waitFor(t, "the second instance serves version 1", 2*time.Second, func() bool { return b.get() == "one" })
	t.Logf("propagated in %v", took)
	put(t, pb, "two", "bob")
	waitFor(t, "the first instance serves version 2", 2*time.Second, func() bool { return a.get() == "two" })

	rb, err := pa.Rollback(context.Background(), "rules", v1.Number, "carol", "undo two")
	if err != nil {
		t.Fatal(err)
	}
	if rb.Number != 3 || rb.Action != control.ActionRollback || rb.RollbackOf != 1 || rb.Author != "carol" || rb.Note != "undo two" {
		t.Fatalf("rollback version %+v", rb)
	}
	waitFor(t, "both serve the rolled-back version", 2*time.Second, func() bool { return a.get() == "one" && b.get() == "one" })

	h, err := pb.History(context.Background(), "rules", 10)
	if err != nil || len(h) != 3 || h[0].Number != 3 || h[2].Author != "alice" || h[2].Note != "why one" || h[1].Time.IsZero() {
		t.Fatalf("history %+v %v", h, err)
	}

	// The first instance commits what it could prepare; the second cannot (say, its GeoIP data differs).
	_, err = pa.Change(context.Background(), "rules", func(*control.Version) (control.Change, error) {
		return control.Change{Author: "alice", Action: control.ActionPut, Files: []control.File{{Name: "r.yaml", Data: "bad-here"}},
			Prepared: "bad-here", Label: "bad-here"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second instance reports it cannot apply version 4", 2*time.Second, func() bool {
		st, _ := pb.Status()
		return st[0].Error != ""
	})
	st, _ := pb.Status()
	if b.get() != "one" || st[0].Serving != 3 || st[0].Latest != 4 || !strings.Contains(st[0].Error, "version 4") {
		t.Fatalf("the failing instance serves %q, status %+v", b.get(), st[0])
	}
	var sb strings.Builder
	regB.WritePrometheus(&sb)
	for _, want := range []string{`riskd_control_version{document="rules",version="3"} 1`, `riskd_control_apply_failed{document="rules"} 1`,
		`riskd_control_latest_version{document="rules"} 4`, `riskd_control_apply_failures_total{document="rules"} 1`} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, sb.String())
		}
	}
	if strings.Contains(sb.String(), `version="2"`) {
		t.Errorf("metrics still name a version no longer served:\n%s", sb.String())
	}
}

// TestRestartServesLastPromoted: a new plane over the same store serves the newest version at its first Sync.
func TestRestartServesLastPromoted(t *testing.T) {
	dir := t.TempDir()
	st, err := control.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	var a served
	p, _ := control.New(control.Config{Store: st, Documents: []control.Document{testDoc(&a)}})
	put(t, p, "one", "alice")
	put(t, p, "two", "alice")
	p.Close()
	st, err = control.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b served
	p, _ = control.New(control.Config{Store: st, Documents: []control.Document{testDoc(&b)}})
	defer p.Close()
	if err := p.Sync(context.Background()); err != nil || b.get() != "two" {
		t.Fatalf("after a restart: serving %q, %v", b.get(), err)
	}
}

// TestStoreOutageKeepsServing: with Redis gone, Sync reports the store's error and what serves stays.
func TestStoreOutageKeepsServing(t *testing.T) {
	r := storetest.StartRedis(t)
	st, err := control.OpenRedis(control.RedisConfig{Addrs: []string{r.Addr}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var a served
	p, _ := control.New(control.Config{Store: st, Documents: []control.Document{testDoc(&a)}})
	defer p.Close()
	put(t, p, "one", "alice")
	r.Kill()
	if err := p.Sync(context.Background()); !errors.Is(err, control.ErrUnavailable) {
		t.Fatalf("Sync without Redis: %v, want ErrUnavailable", err)
	}
	if _, storeErr := p.Status(); storeErr == "" || a.get() != "one" {
		t.Fatalf("status store error %q, serving %q", storeErr, a.get())
	}
}

// TestBusyIsRetried: a Prepare that reports ErrBusy is tried again at the next Sync, not marked failed.
func TestBusyIsRetried(t *testing.T) {
	st := control.NewMemory()
	var a served
	busy := true
	doc := testDoc(&a)
	prepare := doc.Prepare
	doc.Prepare = func(files []control.File) (any, string, error) {
		if busy {
			return nil, "", fmt.Errorf("gate: %w", control.ErrBusy)
		}
		return prepare(files)
	}
	writer, _ := control.New(control.Config{Store: st, Documents: []control.Document{testDoc(&served{})}})
	put(t, writer, "one", "alice")
	p, _ := control.New(control.Config{Store: st, Documents: []control.Document{doc}})
	if err := p.Sync(context.Background()); !errors.Is(err, control.ErrBusy) {
		t.Fatalf("Sync while busy: %v", err)
	}
	if st, _ := p.Status(); st[0].Error != "" {
		t.Fatalf("a busy gate was taken as a bad version: %+v", st[0])
	}
	busy = false
	if err := p.Sync(context.Background()); err != nil || a.get() != "one" {
		t.Fatalf("Sync once free: %v, serving %q", err, a.get())
	}
}
