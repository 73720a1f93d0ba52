package rules

import (
	"fmt"
	"math"
	"math/bits"
	"reflect"

	"github.com/expr-lang/expr/ast"
)

// What a rule may cost. expr evaluates whatever its grammar allows, and some of it grows with values known only
// at run time: repeat(repeat("a", 999999), 999999) asks for a terabyte and Go's out-of-memory error cannot be
// recovered, so one such rule, let through by any path (PUT, shadow, backtest, a --rules file), would kill the
// process on its next evaluation. The VM's own memory budget counts the elements of ranges and arrays but not
// the bytes of strings, and nothing bounds its time.
//
// So every checked, optimised expression is walked once at compile time (checkCost) against an allow-list of
// node kinds, operators, builtins and functions, and an upper bound of its work and of the size of every value
// it builds is computed from the tree alone. A rule whose bound exceeds maxRuleCost, or that uses anything off
// the list, does not compile. The bound is in steps: one per operation, plus one per byte or element an
// operation reads or builds. A string field of the vector counts as fieldBytes (the request's longest string,
// user_agent, is 1 KiB); because maxRuleCost < fieldBytes², anything quadratic in a field's length is refused,
// so an accepted rule stays linear in the real length of what it reads.
const (
	maxWhenBytes    = 16 << 10 // a rule's expression, as written
	maxPatternBytes = 1 << 10  // a `matches` pattern
	fieldBytes      = 1 << 10  // what a string field of the vector counts for
	maxRuleCost     = 100_000  // steps one rule may take on one event
	maxSetCost      = 500_000  // steps all of a set's rules may take on one event (the built-in set: 152)
	// maxTestWork bounds a set's tests, which run on every validation, PUT and reload: the events they replay
	// times the set's steps per event.
	maxTestWork = 10_000_000_000
	// maxPredicateDepth bounds predicates inside predicates: each level multiplies the work, and the bound of
	// each level is computed twice (see predicate).
	maxPredicateDepth = 4
	// vmMemoryBudget is the expr VM's own budget (elements of ranges, arrays and maps built by one run): a
	// second line behind the static bound, which counts every such element among a rule's steps.
	vmMemoryBudget = maxRuleCost
	costCap        = math.MaxInt64 / 2 // bounds saturate here, far above any limit
)

// bound is an upper bound of one expression node: the size of its value (bytes of a string, elements plus
// their sizes for a collection, 1 for a scalar) and the steps to compute it.
type bound struct {
	size, cost uint64
}

func scalar(cost uint64) bound { return bound{size: 1, cost: cost} }

// sat* are saturating: a bound past costCap is refused anyway, and must not wrap to a small number.
func satAdd(xs ...uint64) uint64 {
	var s uint64
	for _, x := range xs {
		s += min(x, costCap)
		if s >= costCap {
			return costCap
		}
	}
	return s
}

func satMul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 || lo >= costCap {
		return costCap
	}
	return lo
}

// nlogn bounds sorting n elements.
func nlogn(n uint64) uint64 { return satMul(n, uint64(bits.Len64(n)+1)) }

// costError is what is wrong with an expression, where it is: offset into the source.
type costError struct {
	at  int
	msg string
}

// costChecker walks one expression.
type costChecker struct {
	src       string
	vars      []letVar   // let bindings in scope, innermost last
	elems     []uint64   // sizes of the collections the enclosing predicates iterate; # is an element of the last
	err       *costError // the first refusal
	costliest ast.Node   // the innermost node over maxRuleCost
}

type letVar struct {
	name string
	size uint64
}

// checkCost returns the bound of the checked, optimised expression root (see the comment on maxRuleCost), or
// an error naming what is not allowed and why.
func checkCost(src string, root ast.Node) (uint64, error) {
	c := &costChecker{src: src}
	b := c.walk(root)
	if c.err != nil {
		return 0, fmt.Errorf("%s%s", c.err.msg, c.where(c.err.at))
	}
	if b.cost > maxRuleCost {
		part := ""
		if c.costliest != nil && c.costliest != root {
			part = fmt.Sprintf("; %s alone is over the limit", shorten(c.costliest.String()))
		}
		return 0, fmt.Errorf("too costly: up to %s steps per event, at most %d%s (a step per operation and per byte or element read or built, a string field counting as %d bytes; a predicate multiplies its body's steps by its collection's size)",
			costString(b.cost), maxRuleCost, part, fieldBytes)
	}
	return b.cost, nil
}

// shorten keeps a quoted part of an expression readable in an error.
func shorten(s string) string {
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func costString(c uint64) string {
	if c >= costCap {
		return "unbounded"
	}
	return fmt.Sprint(c)
}

// where says where in the expression offset at is, for expressions longer than a glance.
func (c *costChecker) where(at int) string {
	if len(c.src) <= 40 || at <= 0 || at >= len(c.src) {
		return ""
	}
	return fmt.Sprintf(" (at column %d)", at+1)
}

func (c *costChecker) refuse(n ast.Node, format string, args ...any) bound {
	if c.err == nil {
		c.err = &costError{at: n.Location().From, msg: fmt.Sprintf(format, args...)}
	}
	return bound{size: costCap, cost: costCap}
}

// The allow-lists. Anything else is refused by name.
var (
	unaryOps  = map[string]bool{"!": true, "not": true, "-": true, "+": true}
	binaryOps = map[string]bool{"==": true, "!=": true, "<": true, ">": true, "<=": true, ">=": true,
		"&&": true, "||": true, "and": true, "or": true, "+": true, "-": true, "*": true, "/": true, "%": true,
		"**": true, "^": true, "in": true, "contains": true, "startsWith": true, "endsWith": true,
		"matches": true, "..": true, "??": true}
	predicates = map[string]bool{"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true,
		"count": true, "sum": true, "find": true, "findIndex": true, "findLast": true, "findLastIndex": true}
	// refusedBuiltins says why the builtins an analyst might reach for are refused; the others are off the
	// list for want of a use in a predicate over one event.
	refusedBuiltins = map[string]string{
		"repeat":   "the size of the string it builds depends on its arguments",
		"reduce":   "its accumulator can grow on every element (reduce(1..40, #acc + #acc, \"a\") doubles it each time)",
		"groupBy":  "rules test one event; building maps of groups is not what a predicate needs",
		"sortBy":   "rules test one event; sort the collection with sort() if you must",
		"now":      "rules run on event time, not the wall clock, so that backtests agree with live traffic",
		"date":     "rules see the event's time through its fields (hour), not as dates",
		"duration": "rules see the event's time through its fields (hour, since_last_login_h), not as durations",
		"timezone": "rules see the event's time through its fields (hour), not in time zones",
		"fromJSON": "the structure it builds depends on the value it parses",
		"toJSON":   "rules compare values; they do not serialise them",
	}
)

// allowedBuiltins are the builtins a rule may call besides the predicates: each reads its arguments once and
// builds a result whose size checkCost bounds from theirs.
var allowedBuiltins = map[string]bool{
	"len": true, "abs": true, "ceil": true, "floor": true, "round": true, "int": true, "float": true,
	"string": true, "type": true, "trim": true, "trimPrefix": true, "trimSuffix": true, "upper": true,
	"lower": true, "split": true, "splitAfter": true, "replace": true, "join": true, "indexOf": true,
	"lastIndexOf": true, "hasPrefix": true, "hasSuffix": true, "max": true, "min": true, "mean": true,
	"median": true, "first": true, "last": true, "get": true, "take": true, "reverse": true, "uniq": true,
	"sort": true, "concat": true, "flatten": true, "keys": true, "values": true, "bitnot": true, "bitand": true,
	"bitor": true, "bitxor": true, "bitnand": true, "bitshl": true, "bitshr": true, "bitushr": true,
}

// walk bounds n, and remembers the first node, the innermost, whose bound alone is over the limit: the part of
// the expression an analyst has to change.
func (c *costChecker) walk(n ast.Node) bound {
	b := c.bound(n)
	if c.costliest == nil && b.cost > maxRuleCost && n != nil {
		c.costliest = n
	}
	return b
}

func (c *costChecker) bound(n ast.Node) bound {
	if c.err != nil {
		return bound{}
	}
	switch n := n.(type) {
	case nil:
		return bound{}
	case *ast.NilNode, *ast.BoolNode, *ast.IntegerNode, *ast.FloatNode:
		return scalar(1)
	case *ast.StringNode:
		return bound{size: max(uint64(len(n.Value)), 1), cost: 1}
	case *ast.ConstantNode:
		return bound{size: footprint(reflect.ValueOf(n.Value)), cost: 1}
	case *ast.IdentifierNode:
		for i := len(c.vars) - 1; i >= 0; i-- {
			if c.vars[i].name == n.Value {
				return bound{size: c.vars[i].size, cost: 1}
			}
		}
		switch n.Type().Kind() {
		case reflect.Bool, reflect.Int, reflect.Float64:
			return scalar(1)
		}
		return bound{size: fieldBytes, cost: 1} // a string field, or $env

	case *ast.PointerNode:
		if len(c.elems) == 0 || n.Name == "acc" {
			return c.refuse(n, "#%s is only meaningful inside a predicate such as all(...) or any(...)", n.Name)
		}
		if n.Name == "index" {
			return scalar(1)
		}
		return bound{size: c.elems[len(c.elems)-1], cost: 1}
	case *ast.UnaryNode:
		if !unaryOps[n.Operator] {
			return c.refuse(n, "operator %s is not allowed in rules", n.Operator)
		}
		return scalar(satAdd(c.walk(n.Node).cost, 1))
	case *ast.BinaryNode:
		return c.binary(n)
	case *ast.ConditionalNode:
		cond, a, b := c.walk(n.Cond), c.walk(n.Exp1), c.walk(n.Exp2)
		return bound{size: max(a.size, b.size), cost: satAdd(cond.cost, max(a.cost, b.cost), 1)}
	case *ast.ArrayNode:
		out := bound{size: 1, cost: 1}
		for _, e := range n.Nodes {
			b := c.walk(e)
			out = bound{size: satAdd(out.size, b.size, 1), cost: satAdd(out.cost, b.cost, 1)}
		}
		return out
	case *ast.MapNode:
		out := bound{size: 1, cost: 1}
		for _, p := range n.Pairs {
			b := c.walk(p)
			out = bound{size: satAdd(out.size, b.size, 1), cost: satAdd(out.cost, b.cost, 1)}
		}
		return out
	case *ast.PairNode:
		k, v := c.walk(n.Key), c.walk(n.Value)
		return bound{size: satAdd(k.size, v.size), cost: satAdd(k.cost, v.cost)}
	case *ast.MemberNode:
		obj, prop := c.walk(n.Node), c.walk(n.Property)
		size := obj.size // an element is no larger than its collection
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "$env" {
			size = fieldBytes
		}
		return bound{size: size, cost: satAdd(obj.cost, prop.cost, 1)}
	case *ast.ChainNode:
		return c.walk(n.Node)
	case *ast.SliceNode:
		obj, from, to := c.walk(n.Node), c.walk(n.From), c.walk(n.To)
		return bound{size: obj.size, cost: satAdd(obj.cost, from.cost, to.cost, 1)}
	case *ast.CallNode:
		// in_list(...) was rewritten into a bit test before this walk; distance is the only function left.
		if id, ok := n.Callee.(*ast.IdentifierNode); !ok || id.Value != "distance" {
			return c.refuse(n, "%s: rules may call only the builtins and distance(...) and in_list(...)", n.Callee)
		}
		cost := uint64(1)
		for _, a := range n.Arguments {
			cost = satAdd(cost, c.walk(a).cost)
		}
		return scalar(cost)
	case *ast.BuiltinNode:
		return c.builtin(n)
	case *ast.VariableDeclaratorNode:
		v := c.walk(n.Value)
		c.vars = append(c.vars, letVar{n.Name, v.size})
		e := c.walk(n.Expr)
		c.vars = c.vars[:len(c.vars)-1]
		return bound{size: e.size, cost: satAdd(v.cost, e.cost, 1)}
	case *ast.SequenceNode:
		var out bound
		for _, e := range n.Nodes {
			b := c.walk(e)
			out = bound{size: b.size, cost: satAdd(out.cost, b.cost)}
		}
		return out
	}
	return c.refuse(n, "%s is not allowed in rules", n)
}

func (c *costChecker) binary(n *ast.BinaryNode) bound {
	if !binaryOps[n.Operator] {
		return c.refuse(n, "operator %s is not allowed in rules", n.Operator)
	}
	switch n.Operator {
	case "..":
		// A range builds every element: its bounds must be known here, so that its size is.
		from, ok1 := n.Left.(*ast.IntegerNode)
		to, ok2 := n.Right.(*ast.IntegerNode)
		if !ok1 || !ok2 {
			return c.refuse(n, "a range needs constant bounds (%s): its size would depend on the event", n)
		}
		size := uint64(0)
		if to.Value >= from.Value {
			diff := uint64(to.Value) - uint64(from.Value) // exact across the whole int range
			if diff >= maxRuleCost {
				elements := fmt.Sprint(diff + 1)
				if diff == math.MaxUint64 {
					elements = "2^64"
				}
				return c.refuse(n, "range %s has %s elements, at most %d", n, elements, maxRuleCost)
			}
			size = diff + 1
		}
		return bound{size: max(size, 1), cost: size + 1}
	case "matches":
		// A pattern from a field would be compiled on every event, at a cost set by whoever sent the event.
		var pattern string
		switch p := n.Right.(type) {
		case *ast.StringNode:
			pattern = p.Value
		case *ast.ConstantNode:
			s, ok := p.Value.(string)
			if !ok {
				return c.refuse(n, "matches needs a constant pattern in quotes")
			}
			pattern = s
		default:
			return c.refuse(n, "matches needs a constant pattern in quotes, not %s: a pattern taken from the event would be compiled on every event", n.Right)
		}
		if len(pattern) > maxPatternBytes {
			return c.refuse(n, "matches: a pattern of %d bytes, at most %d", len(pattern), maxPatternBytes)
		}
		l := c.walk(n.Left)
		// RE2 runs in time linear in the input, times a factor that grows with the pattern.
		return scalar(satAdd(l.cost, satMul(l.size, uint64(1+len(pattern)/16)), uint64(len(pattern)), 1))
	}
	l, r := c.walk(n.Left), c.walk(n.Right)
	cost := satAdd(l.cost, r.cost, 1)
	switch n.Operator {
	case "&&", "||", "and", "or", "-", "*", "/", "%", "**", "^":
		return scalar(cost)
	case "??":
		return bound{size: max(l.size, r.size), cost: cost}
	case "+":
		switch n.Type().Kind() {
		case reflect.Int, reflect.Float64, reflect.Int64, reflect.Float32:
			return scalar(cost)
		}
		// A concatenation: strings or arrays.
		return bound{size: satAdd(l.size, r.size), cost: satAdd(cost, l.size, r.size)}
	}
	switch n.Operator {
	case "==", "!=", "<", ">", "<=", ">=":
		return scalar(satAdd(cost, min(l.size, r.size))) // a comparison stops at the shorter side
	}
	// in, contains, startsWith, endsWith read both sides at most once.
	return scalar(satAdd(cost, l.size, r.size))
}

func (c *costChecker) builtin(n *ast.BuiltinNode) bound {
	if why, ok := refusedBuiltins[n.Name]; ok {
		return c.refuse(n, "%s() is not allowed in rules: %s", n.Name, why)
	}
	if predicates[n.Name] {
		return c.predicate(n)
	}
	if !allowedBuiltins[n.Name] {
		return c.refuse(n, "%s() is not allowed in rules", n.Name)
	}
	args := make([]bound, len(n.Arguments))
	cost, read := uint64(1), uint64(0)
	for i, a := range n.Arguments {
		args[i] = c.walk(a)
		cost = satAdd(cost, args[i].cost)
		read = satAdd(read, args[i].size)
	}
	cost = satAdd(cost, read) // every builtin reads its arguments at most once...
	arg := func(i int) uint64 {
		if i < len(args) {
			return args[i].size
		}
		return 1
	}
	var size uint64
	switch n.Name {
	case "trim", "trimPrefix", "trimSuffix", "first", "last", "get", "take", "reverse", "uniq", "flatten",
		"keys", "values", "max", "min":
		size = arg(0)
		if n.Name == "max" || n.Name == "min" {
			size = 1
			for _, a := range args {
				size = max(size, a.size)
			}
		}
	case "upper", "lower":
		size = satMul(arg(0), 3) // a byte of invalid UTF-8 becomes U+FFFD, three bytes
	case "string":
		size = satAdd(satMul(arg(0), 24), 24) // a number prints in at most 24 bytes
	case "type":
		size = 16
	case "split", "splitAfter":
		size = satAdd(satMul(arg(0), 2), 2) // at most one element per byte, plus the last
	case "join":
		size = satAdd(arg(0), satMul(arg(0), arg(1)))
	case "replace":
		size = satMul(satAdd(arg(0), 1), satAdd(arg(2), 1)) // replace(s, "", new) puts new between every rune
	case "concat":
		size = read
	case "sort", "median":
		size = arg(0)
		cost = satAdd(cost, nlogn(arg(0)))
		if n.Name == "median" {
			size = 1
		}
	default: // numbers, bits, indexOf, hasPrefix, len, mean…
		size = 1
	}
	return bound{size: size, cost: satAdd(cost, size)} // ...and builds its result once
}

// predicate bounds all(xs, p) and its kin: the body runs once per element of xs, with # an element. The
// elements' sizes add up to at most the collection's, and a body's bound is a convex function f of the size e
// of # (sums, products and maxima of non-negative terms), so over n <= S elements of total size S the body
// costs at most f(S) + S·f(1): the body is bounded twice, once with # as large as the whole collection and once
// with # of size 1. Without this, a test of each of a split string's pieces would count as quadratic in it.
func (c *costChecker) predicate(n *ast.BuiltinNode) bound {
	if len(n.Arguments) == 0 {
		return c.refuse(n, "%s() needs a collection", n.Name)
	}
	if len(c.elems) >= maxPredicateDepth {
		return c.refuse(n, "predicates nest at most %d deep", maxPredicateDepth)
	}
	coll := c.walk(n.Arguments[0])
	iterations := coll.size // a collection has no more elements than its size counts
	bodyAt := func(elem uint64) (body, mapped bound) {
		c.elems = append(c.elems, elem)
		for _, a := range n.Arguments[1:] {
			if p, ok := a.(*ast.PredicateNode); ok {
				a = p.Node
			}
			b := c.walk(a)
			body = bound{size: max(body.size, b.size), cost: satAdd(body.cost, b.cost)}
		}
		if n.Map != nil { // the optimiser fused map(filter(xs, p), m) into filter(xs, p) with Map m
			mapped = c.walk(n.Map)
		}
		c.elems = c.elems[:len(c.elems)-1]
		return body, mapped
	}
	bigBody, bigMapped := bodyAt(coll.size)
	smallBody, smallMapped := bodyAt(1)
	perElement := func(big, small uint64) uint64 { return satAdd(big, satMul(iterations, small)) }
	cost := satAdd(coll.cost, perElement(satAdd(bigBody.cost, bigMapped.cost, 1), satAdd(smallBody.cost, smallMapped.cost, 1)), 1)
	size := uint64(1)
	switch n.Name {
	case "filter", "find", "findLast":
		size = coll.size
		if n.Map != nil {
			size = perElement(satAdd(bigMapped.size, 1), satAdd(smallMapped.size, 1))
		}
	case "map":
		size = perElement(satAdd(bigBody.size, 1), satAdd(smallBody.size, 1))
	}
	return bound{size: size, cost: satAdd(cost, size)}
}

// footprint is the size of a constant the optimiser folded: a set of strings, an array.
func footprint(v reflect.Value) uint64 {
	switch v.Kind() {
	case reflect.String:
		return max(uint64(v.Len()), 1)
	case reflect.Slice, reflect.Array:
		n := uint64(1)
		for i := range v.Len() {
			n = satAdd(n, footprint(v.Index(i)), 1)
		}
		return n
	case reflect.Map:
		n := uint64(1)
		it := v.MapRange()
		for it.Next() {
			n = satAdd(n, footprint(it.Key()), footprint(it.Value()), 1)
		}
		return n
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return 1
		}
		return footprint(v.Elem())
	}
	return 1
}
