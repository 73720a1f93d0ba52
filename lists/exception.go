package lists

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Exception suppresses the rules it names for the events it matches, until it expires: the way to fix a
// false positive ("allow user U from ASN A for 7 days") without disabling a rule for everyone. Every
// condition given must hold; at least one must be given.
type Exception struct {
	ID      string    `json:"id"`
	Rules   []string  `json:"rules"`             // rule ids it suppresses
	User    string    `json:"user,omitempty"`    // a user id on input; its keyed hash (hex) once stored
	Device  string    `json:"device,omitempty"`  // a device id on input; its keyed hash (hex) once stored
	Network string    `json:"network,omitempty"` // an address or CIDR network
	ASN     uint32    `json:"asn,omitempty"`
	Country string    `json:"country,omitempty"`
	Tenant  string    `json:"tenant,omitempty"`
	Expires time.Time `json:"expires"` // required: an exception that never ends is a disabled rule
	Note    string    `json:"note,omitempty"`

	userKey, deviceKey uint64
	network            netip.Prefix
	summary            string
}

// Summary says in one line what e does, for the reasons of the decisions it touches.
func (e *Exception) Summary() string { return e.summary }

// ErrException is returned (wrapped) for an exception that cannot be stored.
var ErrException = errors.New("invalid exception")

var exceptionID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)

// maxExceptions bounds the exceptions held; each is scanned for events that match none of the indexed ones.
const maxExceptions = 10000

// normalizeException checks e and fills its keys and network.
func normalizeException(e *Exception, h Hashers, now time.Time) error {
	switch {
	case !exceptionID.MatchString(e.ID):
		return fmt.Errorf("%w: id must be 1-64 letters, digits or _.:-", ErrException)
	case len(e.Rules) == 0:
		return fmt.Errorf("%w: name the rules it suppresses", ErrException)
	case e.Expires.IsZero() || !e.Expires.After(now):
		return fmt.Errorf("%w: expires must be a time in the future", ErrException)
	case e.User == "" && e.Device == "" && e.Network == "" && e.ASN == 0 && e.Country == "" && e.Tenant == "":
		return fmt.Errorf("%w: give at least one of user, device, network, asn, country, tenant", ErrException)
	}
	if e.User != "" {
		e.userKey = h.User(e.User)
		e.User = fmt.Sprintf("%016x", e.userKey)
	}
	if e.Device != "" {
		e.deviceKey = h.Device(e.Device)
		e.Device = fmt.Sprintf("%016x", e.deviceKey)
	}
	if e.Network != "" {
		v, err := normalize(IP, e.Network, h)
		if err != nil {
			return fmt.Errorf("%w: network: %v", ErrException, err)
		}
		e.Network, e.network = v, netip.MustParsePrefix(v)
	}
	if e.Country != "" {
		v, err := normalize(Country, e.Country, h)
		if err != nil {
			return fmt.Errorf("%w: country: %v", ErrException, err)
		}
		e.Country = v
	}
	e.Rules = slices.Compact(slices.Sorted(slices.Values(e.Rules)))
	e.summarize()
	return nil
}

// summarize writes e's Summary.
func (e *Exception) summarize() {
	e.summary = fmt.Sprintf("Exception %s suppresses %s until %s", e.ID, strings.Join(e.Rules, ", "), e.Expires.UTC().Format(time.RFC3339))
	if e.Note != "" {
		e.summary += ": " + e.Note
	}
}

// Subject is what an exception is matched against.
type Subject struct {
	Query
	Tenant string
}

// matches reports whether every condition of e holds for s.
func (e *Exception) matches(s *Subject) bool {
	return (e.userKey == 0 || e.userKey == s.UserKey) &&
		(e.deviceKey == 0 || e.deviceKey == s.DeviceKey) &&
		(!e.network.IsValid() || (s.IP.IsValid() && e.network.Contains(s.IP.Unmap()))) &&
		(e.ASN == 0 || e.ASN == s.ASN) &&
		(e.Country == "" || e.Country == s.Country) &&
		(e.Tenant == "" || e.Tenant == s.Tenant)
}

// Suppresses reports whether e suppresses rule id.
func (e *Exception) Suppresses(id string) bool {
	_, ok := slices.BinarySearch(e.Rules, id)
	return ok
}

// exceptionIndex finds the live exceptions matching an event: those about a user by the user's key, the
// others by a scan (they are few: an exception about a whole network or country is rare and short-lived).
type exceptionIndex struct {
	byUser map[uint64][]*Exception
	others []*Exception
}

func buildExceptions(all map[string]*Exception, now time.Time, s *Snapshot) {
	idx := exceptionIndex{byUser: map[uint64][]*Exception{}}
	for _, e := range all {
		if !e.Expires.After(now) {
			continue
		}
		if s.expiresAt.IsZero() || e.Expires.Before(s.expiresAt) {
			s.expiresAt = e.Expires
		}
		if e.userKey != 0 {
			idx.byUser[e.userKey] = append(idx.byUser[e.userKey], e)
		} else {
			idx.others = append(idx.others, e)
		}
	}
	s.exceptions = idx
}

// Exceptions appends to dst the live exceptions that match s and returns it; with a reused dst it allocates
// nothing.
func (snap *Snapshot) Exceptions(s *Subject, dst []*Exception) []*Exception {
	if snap == nil {
		return dst
	}
	for _, e := range snap.exceptions.byUser[s.UserKey] {
		if e.matches(s) {
			dst = append(dst, e)
		}
	}
	for _, e := range snap.exceptions.others {
		if e.matches(s) {
			dst = append(dst, e)
		}
	}
	return dst
}

// PutException adds or replaces the exception with e's id.
func (r *Registry) PutException(e Exception) (Exception, error) {
	if err := normalizeException(&e, r.hash, r.now()); err != nil {
		return e, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.exceptions[e.ID]; !ok && len(r.exceptions) >= maxExceptions {
		return e, fmt.Errorf("%w: at most %d exceptions", ErrException, maxExceptions)
	}
	if r.exceptions == nil {
		r.exceptions = map[string]*Exception{}
	}
	r.exceptions[e.ID] = &e
	return e, r.publish()
}

// DeleteException removes an exception and reports whether it existed.
func (r *Registry) DeleteException(id string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.exceptions[id]
	delete(r.exceptions, id)
	return ok, r.publish()
}

// ExceptionList returns the exceptions, expired ones included until they are deleted, by id.
func (r *Registry) ExceptionList() []Exception {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Exception, 0, len(r.exceptions))
	for _, e := range r.exceptions {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Exception) int { return strings.Compare(a.ID, b.ID) })
	return out
}
