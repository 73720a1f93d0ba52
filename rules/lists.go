package rules

import (
	"errors"
	"fmt"
	"math"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
)

// MaxLists bounds the distinct lists one rule set may refer to: membership travels as the bits of one int.
const MaxLists = 62

// listIndex numbers the lists a set refers to, in order of first reference, and the attributes its rules
// read with attr() (attributes.go).
type listIndex struct {
	names []string
	index map[string]int
	attrs attrIndex
}

func (l *listIndex) of(name string) (int, error) {
	if i, ok := l.index[name]; ok {
		return i, nil
	}
	if len(l.names) == MaxLists {
		return 0, fmt.Errorf("a rule set may refer to at most %d lists", MaxLists)
	}
	if l.index == nil {
		l.index = map[string]int{}
	}
	l.index[name] = len(l.names)
	l.names = append(l.names, name)
	return len(l.names) - 1, nil
}

// listPatcher rewrites in_list("name") into a test of the name's bit in the vector's list_mask, which the
// engine fills per event with the set's numbering (Set.Lists). Rules thus test list membership as a plain
// integer comparison, on the native path and the VM alike, without a function call per event.
type listPatcher struct {
	lists *listIndex
	err   error
}

func (p *listPatcher) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	if id.Value == "attr" {
		p.attr(node, call)
		return
	}
	if id.Value != "in_list" {
		return
	}
	var name *ast.StringNode
	if len(call.Arguments) == 1 || len(call.Arguments) == 2 {
		name, _ = call.Arguments[0].(*ast.StringNode)
	}
	if name == nil || name.Value == "" {
		p.err = errors.Join(p.err, errors.New(`in_list takes a list name in quotes, e.g. in_list("blocklist"), and may test an attribute: in_list("disposable_domains", attr("email_domain"))`))
		return
	}
	if len(call.Arguments) == 2 {
		p.attrInList(node, name.Value, call.Arguments[1])
		return
	}
	i, err := p.lists.of(name.Value)
	if err != nil {
		p.err = errors.Join(p.err, err)
		return
	}
	patchBitTest(node, "list_mask", i)
}

// patchBitTest replaces node with a test of bit i of the non-negative mask field: mask % 2^(i+1) >= 2^i, which
// the compiler turns into native integer operations.
func patchBitTest(node *ast.Node, mask string, i int) {
	ast.Patch(node, &ast.BinaryNode{
		Operator: ">=",
		Left: &ast.BinaryNode{Operator: "%",
			Left:  &ast.IdentifierNode{Value: mask},
			Right: &ast.IntegerNode{Value: 1 << (i + 1)}},
		Right: &ast.IntegerNode{Value: 1 << i},
	})
}

// distanceHelper is distance(lat1, lon1, lat2, lon2): the great-circle distance in km, registered with its Go
// signature so a rule calling it with the wrong arguments fails to compile. It runs on the expr VM.
var distanceHelper = expr.Function("distance", func(args ...any) (any, error) {
	return distanceKm(args[0].(float64), args[1].(float64), args[2].(float64), args[3].(float64)), nil
}, new(func(float64, float64, float64, float64) float64))

func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * 6371 * math.Asin(math.Min(1, math.Sqrt(a)))
}

// ListIndex returns the bit of list name in the masks of s, or -1 when no rule of s refers to it.
func (s *Set) ListIndex(name string) int {
	for i, n := range s.Lists {
		if n == name {
			return i
		}
	}
	return -1
}

// Index returns the position of rule id in s.Rules, or -1.
func (s *Set) Index(id string) int {
	if i, ok := s.byID[id]; ok {
		return i
	}
	return -1
}
