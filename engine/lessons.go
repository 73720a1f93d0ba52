package engine

import (
	"sync/atomic"

	"github.com/riskd/riskd/features"
)

// An evaluation id is 64 bits: a serial number (the engine's random base plus a sequence number, in the low
// serialBits) under a keyed tag of the serial number and the decision's tenant (tagBits), and two flags on top.
// The tag lets a key restricted to tenants be refused outcomes about another tenant's evaluations, on any
// instance and after a restart, with nothing stored: a client cannot make an id of a tenant (one guess in 2^20
// holds) nor read an id's tenant. The serial number keeps ids apart across instances and restarts (2^42).
const (
	serialBits = 42
	tagBits    = 20
	serialMask = 1<<serialBits - 1
	tagMask    = (1<<tagBits - 1) << serialBits

	// taughtBit is set in the evaluation id of a decision that taught its login (a success and the profile), so
	// that the login's outcome, carrying the id back, teaches it no second time on whichever instance it reaches,
	// also after a restart. failedBit is set in the id of a decision that counted a failure (credentials_valid
	// false), so that a login_failed naming it does not count the attempt's failure a second time. The two are
	// never both set: a decision that counted a failure teaches no login. An id with and without them names the
	// same evaluation: a caller that sets or clears them can only withhold a lesson or teach one again once, as
	// it could by not sending the outcome or sending one without an id.
	taughtBit = 1 << 63
	failedBit = 1 << 62
	flagBits  = taughtBit | failedBit
)

// newEvaluationID returns the id of a new evaluation of an event of tenant.
func (e *Engine) newEvaluationID(tenant string) uint64 {
	serial := (e.idBase + e.idSeq.Add(1)) & serialMask
	return serial | e.x.EvaluationTag(serial, tenant)<<serialBits&tagMask
}

// EvaluationOf reports whether id, as the API writes it, is the evaluation id of a decision on an event of tenant
// (by any instance sharing the state's secret).
func (e *Engine) EvaluationOf(id, tenant string) bool {
	v, ok := parseEvaluationID(id)
	if !ok {
		return false
	}
	serial := v & serialMask
	return v&tagMask == e.x.EvaluationTag(serial, tenant)<<serialBits&tagMask
}

// ValidEvaluationID reports whether id has the form of an evaluation id (up to 16 hexadecimal digits).
func ValidEvaluationID(id string) bool {
	_, ok := parseEvaluationID(id)
	return ok
}

// lessonSlots is the size of the lessonTable: it remembers the outcomes of about the last 65,536 evaluations
// that outcomes named (512 KiB).
const lessonSlots = 1 << 16

// lessonTable remembers, per evaluation id, the lessons outcomes have taught of its login, so that a second
// report (login_succeeded after mfa_passed, an outcome delivered twice) teaches only what the first did not. It
// is direct-mapped on the id's low bits, lock-free and fixed in size: a slot holds the id's remaining bits and
// the lessons, and a newer id in the slot forgets the older one, whose later reports then teach again.
type lessonTable struct {
	slots []atomic.Uint64
	mask  uint64
}

func newLessonTable(n int) *lessonTable {
	return &lessonTable{slots: make([]atomic.Uint64, n), mask: uint64(n - 1)}
}

// claim records the lessons want as taught for evaluation id and returns those no earlier claim had: the caller
// teaches these. Concurrent claims of one id hand each lesson to one caller only.
func (t *lessonTable) claim(id uint64, want features.Lessons) features.Lessons {
	s := &t.slots[id&t.mask]
	tag := id &^ t.mask
	for {
		old := s.Load()
		var had features.Lessons
		if old != 0 && old&^t.mask == tag {
			had = features.Lessons(old & t.mask)
		}
		add := want &^ had
		if add == 0 {
			return 0
		}
		if s.CompareAndSwap(old, tag|uint64(had|add)) {
			return add
		}
	}
}

// lessons returns what outcome o still has to teach: all of its type's lessons, less those its evaluation's
// decision taught (the id's taughtBit, failedBit) and those earlier outcomes naming the evaluation taught on this
// instance. An mfa_failed reported by a key for every tenant always counts (a second factor may be tried, and
// failed, several times within one login); a failure reported by a key restricted to tenants counts only for an
// evaluation it names, once: such a key adds no more failures to the identity all tenants share than it made
// attempts.
func (e *Engine) lessons(o *features.Outcome) features.Lessons {
	l := o.Type.Lessons()
	if o.Type == features.MFAFailed && !o.Scoped {
		return l
	}
	id, ok := parseEvaluationID(o.EvaluationID)
	if l == 0 || !ok {
		if o.Scoped {
			l &^= features.LessonFailure
		}
		return l
	}
	if id&taughtBit != 0 {
		l &^= features.LessonsTaught
	}
	if id&failedBit != 0 {
		l &^= features.LessonFailure
	}
	return e.taught.claim(id&^flagBits, l)
}

// markTaught sets in id the flag of what its decision taught.
func markTaught(id uint64, l features.Lessons) uint64 {
	switch l {
	case features.LessonsTaught:
		return id | taughtBit
	case features.LessonFailure:
		return id | failedBit
	}
	return id
}

// parseEvaluationID reads an evaluation id as the API writes it: up to 16 hexadecimal digits. Unlike
// strconv.ParseUint it allocates nothing when s is not one.
func parseEvaluationID(s string) (uint64, bool) {
	if s == "" || len(s) > 16 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}
