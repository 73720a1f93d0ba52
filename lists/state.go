package lists

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
)

// Fresh returns an empty registry keyed and clocked like r: the scratch on which a change is tried before it
// is committed, so that a refused change leaves r as it was.
func (r *Registry) Fresh() *Registry { return NewRegistry(r.hash, r.now) }

var hexKey = regexp.MustCompile(`^[0-9a-f]{16}$`)

// restoreValue checks that v is already in the canonical form of kind k (as List shows it): a stored value is
// taken as it is, never hashed a second time.
func restoreValue(k Kind, v string) error {
	switch k {
	case Device, User:
		if !hexKey.MatchString(v) {
			return fmt.Errorf("%w: %q is not a stored key (16 hex digits)", ErrValue, v)
		}
		return nil
	}
	n, err := normalize(k, v, Hashers{})
	if err != nil {
		return err
	}
	if n != v {
		return fmt.Errorf("%w: %q is not in canonical form (%q)", ErrValue, v, n)
	}
	return nil
}

// ReplaceLists makes the lists exactly those of all, in the form List(true) gives them; a list keeps its slot
// when its name stays. Nothing changes when any list or entry is invalid.
func (r *Registry) ReplaceLists(all []Info) error {
	next := map[string]*list{}
	for _, in := range all {
		if !namePattern.MatchString(in.Name) {
			return fmt.Errorf("list %q: %w", in.Name, ErrListName)
		}
		if next[in.Name] != nil {
			return fmt.Errorf("list %s: %w: given twice", in.Name, ErrValue)
		}
		k, ok := ParseKind(in.Kind)
		if !ok {
			return fmt.Errorf("list %s: %w: kind %q", in.Name, ErrKind, in.Kind)
		}
		l := &list{name: in.Name, kind: k, source: in.Source, entries: make(map[string]Entry, len(in.Entries))}
		if l.source == "" {
			l.source = "api"
		}
		for i, e := range in.Entries {
			if err := restoreValue(k, e.Value); err != nil {
				return fmt.Errorf("list %s: entry %d: %w", in.Name, i+1, err)
			}
			l.entries[e.Value] = e
		}
		next[in.Name] = l
	}
	if len(next) > MaxLists {
		return ErrFull
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var slots [MaxLists]*list
	for i, l := range r.lists {
		if l != nil && next[l.name] != nil {
			slots[i] = next[l.name]
			delete(next, l.name)
		}
	}
	for _, in := range all { // in the given order, so that slots do not depend on map iteration
		l := next[in.Name]
		if l == nil {
			continue
		}
		for i := range slots {
			if slots[i] == nil {
				slots[i] = l
				break
			}
		}
	}
	old := r.lists
	r.lists = slots
	if err := r.publish(); err != nil {
		r.lists = old
		return err
	}
	return nil
}

// restoreException fills the keys and network of a stored exception (as ExceptionList gives it), whose user
// and device are already keyed hashes. Expired exceptions are kept: they are listed until deleted.
func restoreException(e *Exception) error {
	if !exceptionID.MatchString(e.ID) || len(e.Rules) == 0 || e.Expires.IsZero() {
		return fmt.Errorf("%w: %q is not a stored exception", ErrException, e.ID)
	}
	for _, f := range []struct {
		v   string
		key *uint64
	}{{e.User, &e.userKey}, {e.Device, &e.deviceKey}} {
		if f.v == "" {
			continue
		}
		if !hexKey.MatchString(f.v) {
			return fmt.Errorf("%w: %s: %q is not a stored key", ErrException, e.ID, f.v)
		}
		*f.key, _ = strconv.ParseUint(f.v, 16, 64)
	}
	if e.Network != "" {
		if err := restoreValue(IP, e.Network); err != nil {
			return fmt.Errorf("%w: %s: network: %v", ErrException, e.ID, err)
		}
		e.network = netip.MustParsePrefix(e.Network)
	}
	if e.Country != "" {
		if err := restoreValue(Country, e.Country); err != nil {
			return fmt.Errorf("%w: %s: country: %v", ErrException, e.ID, err)
		}
	}
	e.summarize()
	return nil
}

// ReplaceExceptions makes the exceptions exactly all, in the form ExceptionList gives them. Nothing changes
// when any is invalid.
func (r *Registry) ReplaceExceptions(all []Exception) error {
	if len(all) > maxExceptions {
		return fmt.Errorf("%w: at most %d exceptions", ErrException, maxExceptions)
	}
	next := make(map[string]*Exception, len(all))
	for i := range all {
		e := all[i]
		if err := restoreException(&e); err != nil {
			return err
		}
		if next[e.ID] != nil {
			return fmt.Errorf("%w: %s given twice", ErrException, e.ID)
		}
		next[e.ID] = &e
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.exceptions
	r.exceptions = next
	if err := r.publish(); err != nil {
		r.exceptions = old
		return err
	}
	return nil
}
