package rules

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// SignalsSpec is the signals block of a rule file as written: when riskd's view of a user's risk level
// changes, which the signals package reports to the security stack (CAEP risk-level-change). Every key is
// optional; DefaultRiskModel gives the rest.
type SignalsSpec struct {
	// StuffingRules are the rules whose firing on a login means the login is part of a credential-stuffing
	// wave. Default: ip_credential_stuffing and ip_many_users, those of them the set has.
	StuffingRules []string `yaml:"stuffing_rules"`
	FraudLevel    string   `yaml:"fraud_level"`    // fraud_confirmed (high)
	DenyLevel     string   `yaml:"deny_level"`     // a deny of an event of the user (medium)
	StuffingLevel string   `yaml:"stuffing_level"` // a login of the user in a stuffing wave (medium)
	MFALevel      string   `yaml:"mfa_level"`      // MFAFailures failed step-ups within MFAWindow (medium)
	MFAFailures   *int     `yaml:"mfa_failures"`   // (3)
	MFAWindow     string   `yaml:"mfa_window"`     // a Go duration (1h)
	// Decay is how long a level holds without a new raising signal before it falls one step (24h; "0" never).
	Decay string `yaml:"decay"`

	problems []lineMsg
}

// UnmarshalYAML decodes the signals block strictly.
func (sp *SignalsSpec) UnmarshalYAML(n *yaml.Node) error {
	type plain SignalsSpec
	if n.Kind != yaml.MappingNode {
		return shapeError(n.Line, "signals must be a mapping")
	}
	sp.problems = decodeStrict(n, "signals", (*plain)(sp))
	return nil
}

// RiskLevel is a user's risk level as CAEP names it.
type RiskLevel uint8

// Risk levels, in increasing order.
const (
	RiskLow RiskLevel = iota + 1
	RiskMedium
	RiskHigh
)

var riskLevelNames = [...]string{RiskLow: "LOW", RiskMedium: "MEDIUM", RiskHigh: "HIGH"}

// String returns the CAEP name of l (LOW, MEDIUM, HIGH).
func (l RiskLevel) String() string {
	if l == 0 || int(l) >= len(riskLevelNames) {
		return ""
	}
	return riskLevelNames[l]
}

// ParseRiskLevel reads low, medium or high, in any case.
func ParseRiskLevel(s string) (RiskLevel, bool) {
	for l := RiskLow; l <= RiskHigh; l++ {
		if equalFoldASCII(s, riskLevelNames[l]) {
			return l, true
		}
	}
	return 0, false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// RiskModel is the compiled signals block: the level each kind of signal raises a user to, and how levels
// fall. A legit_confirmed or a passed MFA resets the user to RiskLow.
type RiskModel struct {
	StuffingRules []string
	FraudLevel    RiskLevel
	DenyLevel     RiskLevel
	StuffingLevel RiskLevel
	MFALevel      RiskLevel
	MFAFailures   int
	MFAWindow     time.Duration
	Decay         time.Duration // 0: levels never fall by themselves
}

// DefaultRiskModel is the model of a rule file without a signals block.
func DefaultRiskModel() RiskModel {
	return RiskModel{
		StuffingRules: []string{"ip_credential_stuffing", "ip_many_users"},
		FraudLevel:    RiskHigh, DenyLevel: RiskMedium, StuffingLevel: RiskMedium, MFALevel: RiskMedium,
		MFAFailures: 3, MFAWindow: time.Hour, Decay: 24 * time.Hour,
	}
}

// signals compiles the signals block (one file gives it) into set.Signals and marks the stuffing rules.
func (c *compiler) signals(set *Set, files []namedFile) {
	m := DefaultRiskModel()
	var spec *SignalsSpec
	var file string
	layer := -1
	for _, nf := range files {
		if nf.f.Signals == nil {
			continue
		}
		if spec != nil && layer == nf.layer {
			c.errorf(nf.name, nf.f.keys.line("signals", 0), "signals: also given in %s; give it in one file", file)
			continue
		}
		// A set that extends another replaces the base's signals block whole.
		spec, file, layer = nf.f.Signals, nf.name, nf.layer
	}
	explicit := spec != nil && spec.StuffingRules != nil
	if spec != nil {
		level := func(field, v string, into *RiskLevel) {
			if v == "" {
				return
			}
			l, ok := ParseRiskLevel(v)
			if !ok {
				c.errorf(file, 0, "signals: %s: %q is not a risk level (low, medium, high)", field, v)
				return
			}
			*into = l
		}
		level("fraud_level", spec.FraudLevel, &m.FraudLevel)
		level("deny_level", spec.DenyLevel, &m.DenyLevel)
		level("stuffing_level", spec.StuffingLevel, &m.StuffingLevel)
		level("mfa_level", spec.MFALevel, &m.MFALevel)
		if spec.MFAFailures != nil {
			if *spec.MFAFailures < 1 || *spec.MFAFailures > 1000 {
				c.errorf(file, 0, "signals: mfa_failures: %d, want 1 to 1000", *spec.MFAFailures)
			} else {
				m.MFAFailures = *spec.MFAFailures
			}
		}
		duration := func(field, v string, into *time.Duration) {
			if v == "" {
				return
			}
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				c.errorf(file, 0, "signals: %s: %q is not a duration (e.g. 1h, 30m)", field, v)
				return
			}
			*into = d
		}
		duration("mfa_window", spec.MFAWindow, &m.MFAWindow)
		duration("decay", spec.Decay, &m.Decay)
		if explicit {
			m.StuffingRules = spec.StuffingRules
		}
	}
	kept := m.StuffingRules[:0:0]
	for _, id := range m.StuffingRules {
		found := false
		for i := range set.Rules {
			if set.Rules[i].ID == id {
				set.Rules[i].Stuffing, found = true, true
			}
		}
		switch {
		case found:
			kept = append(kept, id)
		case explicit:
			c.errorf(file, 0, "signals: stuffing_rules: %s", fmt.Sprintf("no rule %q in the set", id))
		}
	}
	m.StuffingRules = kept
	set.Signals = m
}
