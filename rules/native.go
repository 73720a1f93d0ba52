package rules

import (
	"maps"
	"reflect"
	"slices"

	"github.com/expr-lang/expr/ast"

	"github.com/riskd/riskd/features"
)

// Native evaluation: after expr has parsed, type-checked and optimised a rule, nativeCompiler.compile walks
// the resulting AST (program.Node()) and, when every node is in the subset below, builds a tree of Go closures
// that read the Vector's fields at fixed offsets. The expr VM reads each field through reflection and pays a
// defer, a recover and a stack reset per run; a closure tree pays one indirect call per node, and the usual
// shapes (`field OP constant`, `field in [...]`) are fused into one closure.
//
// The subset is what rules are made of: Vector fields of type bool, int, float64 and string; constants;
// == != < <= > >=; && || ! not; unary - and +; + - * / ** on numbers, % by a non-zero constant; in over
// constant arrays (the optimiser's sets) and arrays of operands; contains, startsWith, endsWith; len of a
// string (in runes, as expr counts); the ternary operator with both branches of one type. Anything else (nil,
// string concatenation, other builtins, members, let, predicates, ranges the optimiser did not rewrite) keeps
// the VM. Nothing in the subset can fail at run time, so a native rule never errors where the VM would not.
//
// Semantics follow expr v1.17 exactly (vm/runtime): an int meeting a float is converted to float64, int
// arithmetic wraps, / always divides as float64 (x/0 is ±Inf or NaN, not an error), ** is math.Pow, and `in`
// compares like runtime.Equal. The differential tests and FuzzFastPath hold the two to the same answers; an
// upgrade of expr must keep them passing.

// kind is the static type of a native operand.
type kind uint8

const (
	kindBool kind = iota + 1
	kindInt
	kindFloat
	kindString
)

// vectorField is where a field rules can name lives in features.Vector.
type vectorField struct {
	kind kind
	off  uintptr
}

// vectorFields maps the names rules use (the `expr` tag, else the Go name, as expr resolves them) to the
// fields native code may read. Only the exact types bool, int, float64 and string qualify: expr compares a
// named type differently (a named int is not equal to an int constant). It returns nil, disabling native
// evaluation, if the Vector ever embeds a struct, where expr's name resolution is subtler than this walk.
func vectorFields() map[string]vectorField {
	t := reflect.TypeFor[features.Vector]()
	out := make(map[string]vectorField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return nil
		}
		if !f.IsExported() {
			continue
		}
		name := f.Tag.Get("expr")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		var k kind
		switch f.Type {
		case reflect.TypeFor[bool]():
			k = kindBool
		case reflect.TypeFor[int]():
			k = kindInt
		case reflect.TypeFor[float64]():
			k = kindFloat
		case reflect.TypeFor[string]():
			k = kindString
		default:
			continue
		}
		out[name] = vectorField{kind: k, off: f.Offset}
	}
	return out
}

// nativeCompiler compiles rule ASTs for one rule set.
type nativeCompiler struct {
	fields map[string]vectorField
}

func newNativeCompiler() *nativeCompiler { return &nativeCompiler{fields: vectorFields()} }

// compile returns the native form of a checked, optimised rule expression, or nil when some node is outside
// the subset and the rule must run on the VM.
func (nc *nativeCompiler) compile(root ast.Node) func(*features.Vector) bool {
	if nc.fields == nil || root == nil {
		return nil
	}
	v, ok := nc.node(root)
	if !ok || v.kind != kindBool {
		return nil
	}
	return v.b.fn
}

// value is a compiled operand: a term of the Go type its kind names.
type value struct {
	kind kind
	b    term[bool]
	i    term[int]
	f    term[float64]
	s    term[string]
}

func boolValue(t term[bool]) value     { return value{kind: kindBool, b: t} }
func intValue(t term[int]) value       { return value{kind: kindInt, i: t} }
func floatValue(t term[float64]) value { return value{kind: kindFloat, f: t} }
func stringValue(t term[string]) value { return value{kind: kindString, s: t} }

func (v value) numeric() bool { return v.kind == kindInt || v.kind == kindFloat }

// float is v converted as expr converts an int operand that meets a float.
func (v value) float() term[float64] {
	if v.kind == kindFloat {
		return v.f
	}
	return intToFloat(v.i)
}

func (nc *nativeCompiler) node(n ast.Node) (value, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		f, ok := nc.fields[n.Value]
		if !ok {
			return value{}, false
		}
		switch f.kind {
		case kindBool:
			return boolValue(fieldTerm[bool](f.off)), true
		case kindInt:
			return intValue(fieldTerm[int](f.off)), true
		case kindFloat:
			return floatValue(fieldTerm[float64](f.off)), true
		case kindString:
			return stringValue(fieldTerm[string](f.off)), true
		}
	case *ast.BoolNode:
		return boolValue(constTerm(n.Value)), true
	case *ast.IntegerNode:
		// The compiler pushes an IntegerNode as the Go type the checker gave it.
		switch n.Type().Kind() {
		case reflect.Int, reflect.Interface:
			return intValue(constTerm(n.Value)), true
		case reflect.Float64:
			return floatValue(constTerm(float64(n.Value))), true
		}
	case *ast.FloatNode:
		if n.Type().Kind() != reflect.Float32 {
			return floatValue(constTerm(n.Value)), true
		}
	case *ast.StringNode:
		return stringValue(constTerm(n.Value)), true
	case *ast.ConstantNode:
		return constValue(n.Value)
	case *ast.UnaryNode:
		return nc.unary(n)
	case *ast.BinaryNode:
		return nc.binary(n)
	case *ast.ConditionalNode:
		return nc.conditional(n)
	case *ast.BuiltinNode:
		if n.Name == "len" && len(n.Arguments) == 1 && n.Map == nil {
			if s, ok := nc.node(n.Arguments[0]); ok && s.kind == kindString {
				return intValue(stringLen(s.s)), true
			}
		}
	}
	return value{}, false
}

// constValue is a scalar the optimiser left in a ConstantNode.
func constValue(c any) (value, bool) {
	switch c := c.(type) {
	case bool:
		return boolValue(constTerm(c)), true
	case int:
		return intValue(constTerm(c)), true
	case float64:
		return floatValue(constTerm(c)), true
	case string:
		return stringValue(constTerm(c)), true
	}
	return value{}, false
}

func (nc *nativeCompiler) unary(n *ast.UnaryNode) (value, bool) {
	x, ok := nc.node(n.Node)
	if !ok {
		return value{}, false
	}
	switch {
	case (n.Operator == "!" || n.Operator == "not") && x.kind == kindBool:
		return boolValue(not(x.b)), true
	case n.Operator == "+" && x.numeric():
		return x, true
	case n.Operator == "-" && x.kind == kindInt:
		return intValue(negate(x.i)), true
	case n.Operator == "-" && x.kind == kindFloat:
		return floatValue(negate(x.f)), true
	}
	return value{}, false
}

func (nc *nativeCompiler) binary(n *ast.BinaryNode) (value, bool) {
	l, ok := nc.node(n.Left)
	if !ok {
		return value{}, false
	}
	if n.Operator == "in" {
		return nc.in(l, n.Right)
	}
	r, ok := nc.node(n.Right)
	if !ok {
		return value{}, false
	}
	switch n.Operator {
	case "==", "!=":
		if eq, ok := equal(n.Operator, l, r); ok {
			return boolValue(eq), true
		}
	case "<", ">", "<=", ">=":
		switch {
		case l.kind == kindInt && r.kind == kindInt:
			return boolValue(compare(n.Operator, l.i, r.i)), true
		case l.numeric() && r.numeric():
			return boolValue(compare(n.Operator, l.float(), r.float())), true
		case l.kind == kindString && r.kind == kindString:
			return boolValue(compare(n.Operator, l.s, r.s)), true
		}
	case "&&", "and":
		if l.kind == kindBool && r.kind == kindBool {
			return boolValue(and(l.b, r.b)), true
		}
	case "||", "or":
		if l.kind == kindBool && r.kind == kindBool {
			return boolValue(or(l.b, r.b)), true
		}
	case "+", "-", "*":
		switch {
		case l.kind == kindInt && r.kind == kindInt:
			return intValue(arith(n.Operator, l.i, r.i)), true
		case l.numeric() && r.numeric():
			return floatValue(arith(n.Operator, l.float(), r.float())), true
		}
	case "/":
		if l.numeric() && r.numeric() {
			return floatValue(divide(l.float(), r.float())), true
		}
	case "%":
		// Only by a non-zero constant: x % 0 is an error on the VM, and errors stay the VM's business.
		if l.kind == kindInt && r.kind == kindInt && r.i.konst && r.i.c != 0 {
			return intValue(modulo(l.i, r.i.c)), true
		}
	case "**", "^":
		if l.numeric() && r.numeric() {
			return floatValue(pow(l.float(), r.float())), true
		}
	case "contains", "startsWith", "endsWith":
		if l.kind == kindString && r.kind == kindString {
			return boolValue(stringOp(n.Operator, l.s, r.s)), true
		}
	}
	return value{}, false
}

// equal compiles l == r (or !=) as runtime.Equal decides it for these types. ok is false for a pair of
// different types, which the checker refuses but for an element of an array (see in).
func equal(op string, l, r value) (term[bool], bool) {
	switch {
	case l.kind == kindInt && r.kind == kindInt:
		return compare(op, l.i, r.i), true
	case l.numeric() && r.numeric():
		return compare(op, l.float(), r.float()), true
	case l.kind == kindString && r.kind == kindString:
		return compare(op, l.s, r.s), true
	case l.kind == kindBool && r.kind == kindBool:
		return equalBool(op, l.b, r.b), true
	}
	return term[bool]{}, false
}

func (nc *nativeCompiler) conditional(n *ast.ConditionalNode) (value, bool) {
	c, ok := nc.node(n.Cond)
	if !ok || c.kind != kindBool {
		return value{}, false
	}
	a, ok := nc.node(n.Exp1)
	if !ok {
		return value{}, false
	}
	b, ok := nc.node(n.Exp2)
	// Branches of different types give an untyped result whose operators dispatch at run time: the VM's.
	if !ok || a.kind != b.kind {
		return value{}, false
	}
	switch a.kind {
	case kindBool:
		return boolValue(choose(c.b, a.b, b.b)), true
	case kindInt:
		return intValue(choose(c.b, a.i, b.i)), true
	case kindFloat:
		return floatValue(choose(c.b, a.f, b.f)), true
	case kindString:
		return stringValue(choose(c.b, a.s, b.s)), true
	}
	return value{}, false
}

// in compiles `needle in right`. The optimiser turns a constant array of ints (with an int needle) or of
// strings into a set (map[int]struct{}, map[string]struct{}) and any other constant array into []any, which
// runtime.In searches with runtime.Equal; an array with a non-constant element stays an ArrayNode.
func (nc *nativeCompiler) in(needle value, right ast.Node) (value, bool) {
	switch r := right.(type) {
	case *ast.ConstantNode:
		switch set := r.Value.(type) {
		case map[string]struct{}:
			if needle.kind == kindString {
				return boolValue(member(needle.s, slices.Sorted(maps.Keys(set)))), true
			}
		case map[int]struct{}:
			if needle.kind == kindInt {
				return boolValue(member(needle.i, slices.Sorted(maps.Keys(set)))), true
			}
		case []any:
			return constIn(needle, set)
		}
	case *ast.ArrayNode:
		// Each element in turn, as runtime.In does; operands are pure, so evaluating the needle once per
		// element comes to the same.
		var out term[bool]
		for _, e := range r.Nodes {
			ev, ok := nc.node(e)
			if !ok {
				return value{}, false
			}
			eq, ok := equal("==", needle, ev)
			if !ok {
				continue // runtime.Equal of a string and a number, say: never equal
			}
			if out.fn == nil {
				out = eq
			} else {
				out = or(out, eq)
			}
		}
		if out.fn == nil {
			out = constTerm(false)
		}
		return boolValue(out), true
	}
	return value{}, false
}

// constIn compiles `needle in [constants]` for the []any the optimiser folds a mixed constant array into.
// runtime.Equal makes an int element equal a float needle (and the reverse) by value, and an element of any
// other type never equal.
func constIn(needle value, elems []any) (value, bool) {
	var ints []int
	var floats []float64
	var strs []string
	var bools []bool
	for _, e := range elems {
		switch e := e.(type) {
		case int:
			ints = append(ints, e)
		case float64:
			floats = append(floats, e)
		case string:
			strs = append(strs, e)
		case bool:
			bools = append(bools, e)
		default:
			return value{}, false
		}
	}
	var t term[bool]
	switch needle.kind {
	case kindString:
		t = member(needle.s, strs)
	case kindBool:
		t = member(needle.b, bools)
	case kindFloat:
		for _, i := range ints {
			floats = append(floats, float64(i))
		}
		t = member(needle.f, floats)
	case kindInt:
		t = member(needle.i, ints)
		if len(floats) > 0 {
			t = intOrFloatMember(needle.i, ints, floats)
		}
	default:
		return value{}, false
	}
	return boolValue(t), true
}
