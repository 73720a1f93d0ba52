package lists

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Kind is what a list's entries are.
type Kind uint8

// Kinds.
const (
	IP      Kind = iota + 1 // addresses and CIDR networks, IPv4 and IPv6
	ASN                     // autonomous system numbers ("64500" or "AS64500")
	Country                 // ISO 3166-1 alpha-2 codes
	Device                  // client device ids
	User                    // user ids
	Value                   // plain strings, tested against an event attribute: in_list("name", attr("email_domain"))
)

var kindNames = [...]string{IP: "ip", ASN: "asn", Country: "country", Device: "device", User: "user", Value: "value"}

// String returns the name of k.
func (k Kind) String() string {
	if int(k) >= len(kindNames) {
		return ""
	}
	return kindNames[k]
}

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, bool) {
	for k := IP; k <= Value; k++ {
		if kindNames[k] == s {
			return k, true
		}
	}
	return 0, false
}

// Entry is one list entry.
type Entry struct {
	Value   string    `json:"value"`            // normalised: "192.0.2.0/24", "2001:db8::1/128", "64500", "SE", or a key in hex
	Expires time.Time `json:"expires,omitzero"` // zero = never
	Note    string    `json:"note,omitempty"`   // why it is there: a ticket, an analyst, a feed
	Count   int       `json:"count,omitempty"`  // the feed's count column (how many sources name it), 0 when absent
}

// expired reports whether e no longer applies at t.
func (e *Entry) expired(t time.Time) bool { return !e.Expires.IsZero() && !t.Before(e.Expires) }

// ErrValue is returned (wrapped) for an entry value that does not fit its list's kind.
var ErrValue = errors.New("invalid list entry")

// Hashers key device and user entries the way riskd keys its state.
type Hashers struct {
	Device, User func(id string) uint64
}

// normalize returns the canonical form of a value of kind k.
func normalize(k Kind, v string, h Hashers) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("%w: empty", ErrValue)
	}
	switch k {
	case IP:
		if strings.Contains(v, "/") {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return "", fmt.Errorf("%w: %q is not a CIDR network", ErrValue, v)
			}
			return p.Masked().String(), nil
		}
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return "", fmt.Errorf("%w: %q is not an IP address", ErrValue, v)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()).String(), nil
	case ASN:
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(v), "AS"), 10, 32)
		if err != nil || n == 0 {
			return "", fmt.Errorf("%w: %q is not an AS number", ErrValue, v)
		}
		return strconv.FormatUint(n, 10), nil
	case Country:
		c := strings.ToUpper(v)
		if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
			return "", fmt.Errorf("%w: %q is not an ISO 3166-1 alpha-2 code", ErrValue, v)
		}
		return c, nil
	case Device:
		return fmt.Sprintf("%016x", h.Device(v)), nil
	case User:
		return fmt.Sprintf("%016x", h.User(v)), nil
	case Value:
		// Compared byte for byte with the attribute: no case folding, which the request path could not do
		// without allocating. Conventional attributes have one spelling (features.ValidAttribute).
		if len(v) > 256 {
			return "", fmt.Errorf("%w: values are at most 256 bytes", ErrValue)
		}
		return v, nil
	}
	return "", fmt.Errorf("%w: unknown list kind", ErrValue)
}
