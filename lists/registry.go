package lists

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds the named lists. Changes are serialised and each publishes a new Snapshot; reads of the
// current Snapshot are lock-free.
type Registry struct {
	hash Hashers
	now  func() time.Time

	mu         sync.Mutex
	lists      [MaxLists]*list // by slot
	exceptions map[string]*Exception
	snap       atomic.Pointer[Snapshot]
}

type list struct {
	name    string
	kind    Kind
	source  string // "api" or the file it was loaded from
	entries map[string]Entry
}

// Errors of list management, for the API to map to statuses.
var (
	ErrNoList   = errors.New("no such list")
	ErrKind     = errors.New("the list exists with another kind")
	ErrFull     = fmt.Errorf("at most %d lists", MaxLists)
	ErrListName = errors.New("list names are 1-64 of a-z, 0-9, '_' and '-', starting with a letter")
)

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// NewRegistry returns an empty registry. now is the clock that expires entries (default time.Now).
func NewRegistry(h Hashers, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	r := &Registry{hash: h, now: now}
	r.snap.Store(&Snapshot{})
	return r
}

// Snapshot returns the current compiled lists.
func (r *Registry) Snapshot() *Snapshot { return r.snap.Load() }

// Slot returns the slot and kind of the list named name.
func (r *Registry) Slot(name string) (slot int, k Kind, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := r.find(name); i >= 0 {
		return i, r.lists[i].kind, true
	}
	return 0, 0, false
}

func (r *Registry) find(name string) int {
	for i, l := range r.lists {
		if l != nil && l.name == name {
			return i
		}
	}
	return -1
}

// define returns the list named name, creating it with kind k. Callers hold mu.
func (r *Registry) define(name string, k Kind, source string) (*list, error) {
	if !namePattern.MatchString(name) {
		return nil, ErrListName
	}
	if i := r.find(name); i >= 0 {
		if r.lists[i].kind != k {
			return nil, fmt.Errorf("%w: %s is a %s list", ErrKind, name, r.lists[i].kind)
		}
		return r.lists[i], nil
	}
	for i := range r.lists {
		if r.lists[i] == nil {
			r.lists[i] = &list{name: name, kind: k, source: source, entries: map[string]Entry{}}
			return r.lists[i], nil
		}
	}
	return nil, ErrFull
}

// Put adds or replaces entries (values in any accepted form) in the list named name, creating it with kind k.
// Nothing changes when any value is invalid.
func (r *Registry) Put(name string, k Kind, entries []Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	norm := make([]Entry, len(entries))
	for i, e := range entries {
		v, err := normalize(k, e.Value, r.hash)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i+1, err)
		}
		e.Value = v
		norm[i] = e
	}
	l, err := r.define(name, k, "api")
	if err != nil {
		return err
	}
	for _, e := range norm {
		l.entries[e.Value] = e
	}
	return r.publish()
}

// Remove deletes one entry (value in any accepted form) and reports whether it was there.
func (r *Registry) Remove(name, value string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.find(name)
	if i < 0 {
		return false, ErrNoList
	}
	v, err := normalize(r.lists[i].kind, value, r.hash)
	if err != nil {
		return false, err
	}
	_, had := r.lists[i].entries[v]
	delete(r.lists[i].entries, v)
	return had, r.publish()
}

// Delete removes a whole list; its slot stays free for a later list.
func (r *Registry) Delete(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.find(name)
	if i < 0 {
		return ErrNoList
	}
	r.lists[i] = nil
	return r.publish()
}

// LoadFile replaces the entries of the list named name with those of the file at path. On any error the list
// is left as it was.
func (r *Registry) LoadFile(name string, k Kind, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("list %s: %w", name, err)
	}
	defer f.Close()
	entries, err := ParseFile(f, k, r.hash)
	if err != nil {
		return fmt.Errorf("list %s: %s: %w", name, path, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l, err := r.define(name, k, path)
	if err != nil {
		return fmt.Errorf("list %s: %w", name, err)
	}
	l.source = path
	l.entries = make(map[string]Entry, len(entries))
	for _, e := range entries {
		l.entries[e.Value] = e
	}
	return r.publish()
}

// Maintain rebuilds the snapshot when an entry has expired since the last build; call it periodically.
func (r *Registry) Maintain() error {
	s := r.snap.Load()
	if s.expiresAt.IsZero() || r.now().Before(s.expiresAt) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publish()
}

// publish builds and swaps in a new snapshot. Callers hold mu.
func (r *Registry) publish() error {
	now := r.now()
	s, err := build(&r.lists, now)
	if err != nil {
		return err
	}
	buildExceptions(r.exceptions, now, s)
	r.snap.Store(s)
	return nil
}

// Info describes a list for the API.
type Info struct {
	Name    string  `json:"name"`
	Kind    string  `json:"kind"`
	Source  string  `json:"source"`
	Entries []Entry `json:"entries,omitempty"`
	Size    int     `json:"size"`
}

// List returns every list, with its entries when withEntries.
func (r *Registry) List(withEntries bool) []Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Info
	for _, l := range r.lists {
		if l == nil {
			continue
		}
		in := Info{Name: l.name, Kind: l.kind.String(), Source: l.source, Size: len(l.entries)}
		if withEntries {
			for _, k := range slices.Sorted(maps.Keys(l.entries)) {
				in.Entries = append(in.Entries, l.entries[k])
			}
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out
}
