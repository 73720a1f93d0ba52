package engine

import (
	"sync/atomic"

	"github.com/riskd/riskd/features"
)

// taughtBit is set in the evaluation id of a decision that taught its login (a success and the profile), so
// that the login's outcome, carrying the id back, teaches it no second time on whichever instance it reaches,
// also after a restart. Ids are the engine's random base, kept below 2^61, plus a sequence number: the bit is
// never set otherwise, and an id with and without it names the same evaluation. A caller that sets or clears
// it can only withhold a lesson or teach one again, as it could by not sending the outcome or sending one
// without an id.
const taughtBit = 1 << 63

// failedBit is set in the evaluation id of a decision that counted a failure (credentials_valid: false), so that
// a login_failed carrying the id back does not count the attempt's failure a second time, on any instance. It
// and taughtBit are never both set: a decision that counted a failure teaches no login. As with taughtBit, a
// caller that sets or clears it can only withhold a failure or count one again, as it could by not reporting it
// or reporting it without an id.
const failedBit = 1 << 62

// markers are the bits of an evaluation id that say what its decision taught; the rest names the evaluation.
const markers = taughtBit | failedBit

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

// lessons returns what outcome o still has to teach of its login: all of its type's lessons, less those its
// evaluation's decision taught (the id's taughtBit and failedBit) and those earlier outcomes naming the
// evaluation taught on this instance.
func (e *Engine) lessons(o *features.Outcome) features.Lessons {
	l := o.Type.Lessons()
	id, ok := parseEvaluationID(o.EvaluationID)
	if l == 0 || !ok {
		return l
	}
	if id&taughtBit != 0 {
		l &^= features.LessonsTaught
	}
	if id&failedBit != 0 {
		l &^= features.LessonFailure
	}
	return e.taught.claim(id&^markers, l)
}

// markTaught sets in id the marker of what its decision taught.
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
