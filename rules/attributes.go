package rules

import (
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr/ast"

	"github.com/riskd/riskd/features"
)

// MaxAttrLists bounds the (list, attribute) pairs one rule set may test with in_list("list", attr("name")):
// their results travel as the bits of one int (attr_list_mask).
const MaxAttrLists = 62

// AttrList is one pair a rule set tests: whether the value of attribute Attrs[Attr] is in list List.
type AttrList struct {
	List string
	Attr int // index in Set.Attributes
}

// attrIndex numbers the attribute names a set's rules read and the (list, attribute) pairs they test.
type attrIndex struct {
	names []string
	pairs []AttrList
}

func (a *attrIndex) of(name string) (int, error) {
	for i, n := range a.names {
		if n == name {
			return i, nil
		}
	}
	if len(a.names) == features.NumAttrSlots {
		return 0, fmt.Errorf("a rule set may read at most %d attribute names with attr()", features.NumAttrSlots)
	}
	a.names = append(a.names, name)
	return len(a.names) - 1, nil
}

func (a *attrIndex) pair(list string, attr int) (int, error) {
	for i, p := range a.pairs {
		if p.List == list && p.Attr == attr {
			return i, nil
		}
	}
	if len(a.pairs) == MaxAttrLists {
		return 0, fmt.Errorf("a rule set may test at most %d (list, attribute) pairs", MaxAttrLists)
	}
	a.pairs = append(a.pairs, AttrList{List: list, Attr: attr})
	return len(a.pairs) - 1, nil
}

// attrSlotPrefix is the name of the vector fields attr() reads: attr_0 .. attr_7.
const attrSlotPrefix = "attr_"

// attr rewrites attr("name") into the vector field the set gives the name (attr_0 .. attr_7), which the engine
// fills per event from the event's attributes (Set.Attributes): a string field read like any other, on the
// native path and the VM alike, with no function call and no map.
func (p *listPatcher) attr(node *ast.Node, call *ast.CallNode) {
	var name *ast.StringNode
	if len(call.Arguments) == 1 {
		name, _ = call.Arguments[0].(*ast.StringNode)
	}
	if name == nil {
		p.err = errors.Join(p.err, errors.New(`attr takes one attribute name in quotes, e.g. attr("email_domain")`))
		return
	}
	if err := features.ValidAttributeName(name.Value); err != nil {
		p.err = errors.Join(p.err, fmt.Errorf("attr(%q): %w", name.Value, err))
		return
	}
	i, err := p.lists.attrs.of(name.Value)
	if err != nil {
		p.err = errors.Join(p.err, err)
		return
	}
	ast.Patch(node, &ast.IdentifierNode{Value: fmt.Sprintf("%s%d", attrSlotPrefix, i)})
}

// attrInList rewrites in_list("list", attr("name")) into a test of the pair's bit in attr_list_mask, which the
// engine fills per event by looking the attribute's value up in the list (a list of kind value).
func (p *listPatcher) attrInList(node *ast.Node, list string, arg ast.Node) {
	slot := -1
	if id, ok := arg.(*ast.IdentifierNode); ok && strings.HasPrefix(id.Value, attrSlotPrefix) {
		// attr("name") was patched first (children are visited before their parent).
		fmt.Sscanf(id.Value[len(attrSlotPrefix):], "%d", &slot)
	}
	if slot < 0 || slot >= len(p.lists.attrs.names) {
		p.err = errors.Join(p.err, errors.New(`in_list's second argument must be attr("name"), e.g. in_list("disposable_domains", attr("email_domain"))`))
		return
	}
	i, err := p.lists.attrs.pair(list, slot)
	if err != nil {
		p.err = errors.Join(p.err, err)
		return
	}
	patchBitTest(node, "attr_list_mask", i)
}

// FillAttributes copies into v the event's values of the attribute names s reads (Set.Attributes), in the
// slots s gave them. Values alias the event's strings. It allocates nothing.
func (s *Set) FillAttributes(ev *features.Event, v *features.Vector) {
	for i := range features.NumAttrSlots {
		*v.AttrSlot(i) = ""
	}
	for i, name := range s.Attributes {
		*v.AttrSlot(i) = ev.Attribute(name)
	}
}
