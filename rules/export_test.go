package rules

import "slices"

// VMOnly returns a copy of s whose rules all run on the expr VM: the reference native evaluation is checked
// and measured against.
func VMOnly(s *Set) *Set {
	c := *s
	c.Rules = slices.Clone(s.Rules)
	for i := range c.Rules {
		c.Rules[i].native = nil
	}
	return &c
}
