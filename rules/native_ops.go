package rules

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/riskd/riskd/features"
)

// term is one compiled operand of Go type T. fn always computes it; when the operand is a constant or a bare
// Vector field, konst or field say so as well, so that an operator can fuse the common shapes
// (`ip_failures_1m >= 20`, `country in [...]`) into a single closure instead of calling one per operand.
type term[T any] struct {
	fn    func(*features.Vector) T
	konst bool // fn returns c
	c     T
	field bool // fn reads the field at offset off
	off   uintptr
}

// at reads the field of type T at offset off. vectorFields computed off with reflect from this very type, and
// only for fields whose type is exactly T.
func at[T any](v *features.Vector, off uintptr) T {
	return *(*T)(unsafe.Add(unsafe.Pointer(v), off))
}

func fieldTerm[T any](off uintptr) term[T] {
	return term[T]{fn: func(v *features.Vector) T { return at[T](v, off) }, field: true, off: off}
}

func constTerm[T any](c T) term[T] {
	return term[T]{fn: func(*features.Vector) T { return c }, konst: true, c: c}
}

func fnTerm[T any](fn func(*features.Vector) T) term[T] { return term[T]{fn: fn} }

// intToFloat converts as runtime does when an int meets a float: float64(x).
func intToFloat(t term[int]) term[float64] {
	switch {
	case t.konst:
		return constTerm(float64(t.c))
	case t.field:
		off := t.off
		return fnTerm(func(v *features.Vector) float64 { return float64(at[int](v, off)) })
	}
	fn := t.fn
	return fnTerm(func(v *features.Vector) float64 { return float64(fn(v)) })
}

func not(t term[bool]) term[bool] {
	switch {
	case t.konst:
		return constTerm(!t.c)
	case t.field:
		off := t.off
		return fnTerm(func(v *features.Vector) bool { return !at[bool](v, off) })
	}
	fn := t.fn
	return fnTerm(func(v *features.Vector) bool { return !fn(v) })
}

// and and or short-circuit, as the VM's jumps do; nothing native can fail, so order only matters for speed. A
// bare field on either side is read in place rather than through its closure: a flag beside a condition
// (`new_device && ...`) is the commonest shape of the built-in rules, and each call saved is one per rule and
// decision.
func and(l, r term[bool]) term[bool] {
	lo, ro := l.off, r.off
	lf, rf := l.fn, r.fn
	switch {
	case l.field && r.field:
		return fnTerm(func(v *features.Vector) bool { return at[bool](v, lo) && at[bool](v, ro) })
	case l.field:
		return fnTerm(func(v *features.Vector) bool { return at[bool](v, lo) && rf(v) })
	case r.field:
		return fnTerm(func(v *features.Vector) bool { return lf(v) && at[bool](v, ro) })
	}
	return fnTerm(func(v *features.Vector) bool { return lf(v) && rf(v) })
}

func or(l, r term[bool]) term[bool] {
	lo, ro := l.off, r.off
	lf, rf := l.fn, r.fn
	switch {
	case l.field && r.field:
		return fnTerm(func(v *features.Vector) bool { return at[bool](v, lo) || at[bool](v, ro) })
	case l.field:
		return fnTerm(func(v *features.Vector) bool { return at[bool](v, lo) || rf(v) })
	case r.field:
		return fnTerm(func(v *features.Vector) bool { return lf(v) || at[bool](v, ro) })
	}
	return fnTerm(func(v *features.Vector) bool { return lf(v) || rf(v) })
}

func equalBool(op string, l, r term[bool]) term[bool] {
	if l.konst && !r.konst {
		l, r = r, l
	}
	if r.konst { // x == true is x; x == false is !x
		if r.c == (op == "==") {
			return l
		}
		return not(l)
	}
	lf, rf := l.fn, r.fn
	if op == "==" {
		return fnTerm(func(v *features.Vector) bool { return lf(v) == rf(v) })
	}
	return fnTerm(func(v *features.Vector) bool { return lf(v) != rf(v) })
}

// mirror gives the operator that compares the same pair with its operands swapped.
func mirror(op string) string {
	switch op {
	case "<":
		return ">"
	case ">":
		return "<"
	case "<=":
		return ">="
	case ">=":
		return "<="
	}
	return op
}

// compare compiles a comparison of two operands of one type, as runtime.Equal, runtime.Less and friends do
// once both are int, both float64 (an int operand already converted) or both string.
func compare[T cmp.Ordered](op string, l, r term[T]) term[bool] {
	if l.konst && r.field {
		l, r, op = r, l, mirror(op)
	}
	if l.field && r.konst {
		return fnTerm(compareFieldConst(op, l.off, r.c))
	}
	lf, rf := l.fn, r.fn
	switch op {
	case "==":
		return fnTerm(func(v *features.Vector) bool { return lf(v) == rf(v) })
	case "!=":
		return fnTerm(func(v *features.Vector) bool { return lf(v) != rf(v) })
	case "<":
		return fnTerm(func(v *features.Vector) bool { return lf(v) < rf(v) })
	case ">":
		return fnTerm(func(v *features.Vector) bool { return lf(v) > rf(v) })
	case "<=":
		return fnTerm(func(v *features.Vector) bool { return lf(v) <= rf(v) })
	case ">=":
		return fnTerm(func(v *features.Vector) bool { return lf(v) >= rf(v) })
	}
	panic("rules: unknown comparison " + op)
}

func compareFieldConst[T cmp.Ordered](op string, off uintptr, c T) func(*features.Vector) bool {
	switch op {
	case "==":
		return func(v *features.Vector) bool { return at[T](v, off) == c }
	case "!=":
		return func(v *features.Vector) bool { return at[T](v, off) != c }
	case "<":
		return func(v *features.Vector) bool { return at[T](v, off) < c }
	case ">":
		return func(v *features.Vector) bool { return at[T](v, off) > c }
	case "<=":
		return func(v *features.Vector) bool { return at[T](v, off) <= c }
	case ">=":
		return func(v *features.Vector) bool { return at[T](v, off) >= c }
	}
	panic("rules: unknown comparison " + op)
}

type number interface{ ~int | ~float64 }

// arith compiles + - * on two ints (wrapping, as Go and the VM do) or two float64s. The explicit T(...) keeps
// a float result rounded to float64 at each operation, as the VM's boxed intermediate results are, even where
// the Go compiler could fuse a multiply and an add.
func arith[T number](op string, l, r term[T]) term[T] {
	lf, rf := l.fn, r.fn
	switch op {
	case "+":
		return fnTerm(func(v *features.Vector) T { return T(lf(v) + rf(v)) })
	case "-":
		return fnTerm(func(v *features.Vector) T { return T(lf(v) - rf(v)) })
	case "*":
		return fnTerm(func(v *features.Vector) T { return T(lf(v) * rf(v)) })
	}
	panic("rules: unknown arithmetic operator " + op)
}

// divide is expr's /: always float64, so 1/0 is +Inf and 0/0 NaN rather than an error.
func divide(l, r term[float64]) term[float64] {
	lf, rf := l.fn, r.fn
	return fnTerm(func(v *features.Vector) float64 { return float64(lf(v) / rf(v)) })
}

// modulo is % by a non-zero constant c; Go defines math.MinInt % -1 as 0, as the VM computes it too.
func modulo(l term[int], c int) term[int] {
	lf := l.fn
	return fnTerm(func(v *features.Vector) int { return lf(v) % c })
}

func pow(l, r term[float64]) term[float64] {
	lf, rf := l.fn, r.fn
	return fnTerm(func(v *features.Vector) float64 { return math.Pow(lf(v), rf(v)) })
}

func negate[T number](t term[T]) term[T] {
	if t.konst {
		return constTerm(-t.c)
	}
	fn := t.fn
	return fnTerm(func(v *features.Vector) T { return -fn(v) })
}

// stringLen is expr's len of a string, which counts runes (builtin.Len), not bytes.
func stringLen(s term[string]) term[int] {
	fn := s.fn
	return fnTerm(func(v *features.Vector) int { return utf8.RuneCountInString(fn(v)) })
}

func stringOp(op string, l, r term[string]) term[bool] {
	var f func(s, sub string) bool
	switch op {
	case "contains":
		f = strings.Contains
	case "startsWith":
		f = strings.HasPrefix
	case "endsWith":
		f = strings.HasSuffix
	default:
		panic("rules: unknown string operator " + op)
	}
	lf, rf := l.fn, r.fn
	return fnTerm(func(v *features.Vector) bool { return f(lf(v), rf(v)) })
}

func choose[T any](c term[bool], a, b term[T]) term[T] {
	cf, af, bf := c.fn, a.fn, b.fn
	return fnTerm(func(v *features.Vector) T {
		if cf(v) {
			return af(v)
		}
		return bf(v)
	})
}

// linearMax is the set size up to which a scan beats a map lookup (measured for strings and ints).
const linearMax = 8

// member compiles `needle in set` for a constant set whose elements equal the needle exactly when == says so.
func member[T comparable](needle term[T], set []T) term[bool] {
	if len(set) == 0 {
		return constTerm(false)
	}
	if len(set) > linearMax {
		m := make(map[T]struct{}, len(set))
		for _, x := range set {
			m[x] = struct{}{}
		}
		if needle.field {
			off := needle.off
			return fnTerm(func(v *features.Vector) bool { _, ok := m[at[T](v, off)]; return ok })
		}
		fn := needle.fn
		return fnTerm(func(v *features.Vector) bool { _, ok := m[fn(v)]; return ok })
	}
	set = slices.Clone(set)
	if needle.field {
		off := needle.off
		return fnTerm(func(v *features.Vector) bool { return slices.Contains(set, at[T](v, off)) })
	}
	fn := needle.fn
	return fnTerm(func(v *features.Vector) bool { return slices.Contains(set, fn(v)) })
}

// intOrFloatMember is `int in [ints and floats]`: an int element by ==, a float element by value, as
// runtime.Equal compares an int with a float64.
func intOrFloatMember(needle term[int], ints []int, floats []float64) term[bool] {
	fn := needle.fn
	ints, floats = slices.Clone(ints), slices.Clone(floats)
	return fnTerm(func(v *features.Vector) bool {
		x := fn(v)
		return slices.Contains(ints, x) || slices.Contains(floats, float64(x))
	})
}
