package rules

import (
	"unsafe"

	"github.com/expr-lang/expr/vm"

	"github.com/riskd/riskd/features"
)

// Evaluator holds what one goroutine needs to evaluate rules: the feature vector, which native rules read
// directly, and for the rules left to expr a reusable VM and the vector already boxed as its environment.
// Not safe for concurrent use; pool one per goroutine.
type Evaluator struct {
	// Vector is the feature vector rules are evaluated over; fill it before Evaluate.
	Vector features.Vector
	env    any
	vm     vm.VM
	fired  []int
}

// NewEvaluator returns an Evaluator.
func NewEvaluator() *Evaluator {
	e := &Evaluator{}
	e.env = boxVector(&e.Vector)
	e.vm.MemoryBudget = vmMemoryBudget
	return e
}

// boxVector returns an interface value holding a features.Vector whose data word points at v. expr reads
// struct fields from a value environment without allocating, but boxing a Vector per evaluation would copy
// and allocate it; pointing the box at the Evaluator's own Vector makes every later fill visible to rules
// for free. The box is never handed out: only the VM reads it, and only while the Evaluator is held.
func boxVector(v *features.Vector) any {
	var e any = features.Vector{}
	(*[2]unsafe.Pointer)(unsafe.Pointer(&e))[1] = unsafe.Pointer(v)
	return e
}

// Result is the outcome of evaluating a Set. Fired indexes Set.Rules and is valid until the next Evaluate
// with the same Evaluator.
type Result struct {
	Score      int        // sum of the enforced firing rules' scores, clamped to 0..100
	Action     Action     // from actions and thresholds; never None
	Fired      []int      // every firing rule, shadow ones included, in rule order
	Errors     int        // rules whose evaluation failed (counted as not firing)
	ByScore    bool       // Action came from the thresholds, not from a rule's action
	Thresholds Thresholds // the thresholds of the event's tenant and type
}

// Evaluate runs over e.Vector every rule of s that applies to in: the rules of in.Tenant's view (the global
// view for a tenant without an overlay) for in.Type that have not expired by in.Time, and decides with that
// view's thresholds for in.Type. The view was resolved when s was compiled; here it is one map lookup.
func (s *Set) Evaluate(e *Evaluator, in Input, res *Result) {
	v := s.view(in.Tenant)
	t := eventIndex(in.Type)
	e.fired = e.fired[:0]
	score, errs := 0, 0
	var act Action
	for _, i := range v.byEvent[t] {
		r := &s.Rules[i]
		if r.expires != 0 && in.Time != 0 && in.Time >= r.expires {
			continue
		}
		if in.Suppress != nil && in.Suppress[i] {
			continue
		}
		var fired bool
		if r.native != nil {
			fired = r.native(&e.Vector)
		} else {
			out, err := e.vm.Run(r.program, e.env)
			if err != nil {
				errs++
				continue
			}
			fired, _ = out.(bool)
		}
		if !fired {
			continue
		}
		e.fired = append(e.fired, int(i))
		if r.Shadow {
			continue
		}
		score += r.Score
		if r.Action > act {
			act = r.Action
		}
	}
	score = min(max(score, 0), 100)
	th := v.thresholds[t]
	*res = Result{Score: score, Fired: e.fired, Errors: errs, Thresholds: th}
	switch {
	case act == Deny:
		res.Action = Deny
	case act == Allow:
		res.Action = Allow
	default:
		res.Action, res.ByScore = th.action(score), true
		if act == StepUp && res.Action < StepUp {
			res.Action, res.ByScore = StepUp, false
		}
	}
}

func (th Thresholds) action(score int) Action {
	switch {
	case score >= th.Deny:
		return Deny
	case score >= th.StepUp:
		return StepUp
	}
	return Allow
}
