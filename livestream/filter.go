package livestream

import (
	"github.com/riskd/riskd/rules"
)

// Filter selects the decisions a viewer sees. Every field set must match (AND); the zero value matches all.
type Filter struct {
	Decision rules.Action // rules.None: any
	Rule     string       // a rule of the deciding set, by id, that fired ("": any)
	Tenant   string
	Event    string // the event type's API name
}

// Match reports whether e passes f.
func (f *Filter) Match(e *Entry) bool {
	r := &e.Record
	switch {
	case f.Decision != rules.None && r.Action != f.Decision:
		return false
	case f.Event != "" && r.Vector.Event != f.Event:
		return false
	case f.Tenant != "" && !r.TenantIs(f.Tenant):
		return false
	case f.Rule != "" && !fired(r.Set, r.Fired[:r.NumFired], f.Rule):
		return false
	}
	return true
}

func fired(set *rules.Set, fired []uint16, id string) bool {
	if set == nil {
		return false
	}
	for _, i := range fired {
		if set.Rules[i].ID == id {
			return true
		}
	}
	return false
}
