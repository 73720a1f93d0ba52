package rules

import (
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"

	"github.com/riskd/riskd/features"
)

// What an evaluation of one rule that compiled may take, generously: the static bound is 100,000 steps, a few
// milliseconds and a few megabytes; these limits only catch a bound that does not hold.
const (
	evalTimeLimit  = time.Second
	evalAllocLimit = 64 << 20
)

// longVectors are feature vectors whose every string field is as long as the cost model assumes (fieldBytes),
// made of the pieces expressions split, case-map and match on (separators, spaces, runes that change length
// under upper and lower, invalid UTF-8), beside ordinary random ones.
func longVectors() []features.Vector {
	pieces := []string{"a, é\xffZ ", "ɐ,ı;K ", strings.Repeat("x", 64)}
	var out []features.Vector
	for _, p := range pieces {
		v := randomVectors(uint64(len(p)), 1)[0]
		long := strings.Repeat(p, fieldBytes/len(p)+1)[:fieldBytes]
		v.Event, v.Tenant, v.Channel, v.Currency, v.MFAPreference = long, long, long, long, long
		v.UABrowser, v.UAOS, v.UADeviceClass, v.Country, v.Region, v.City, v.ASOrg = long, long, long, long, long, long, long
		v.Hour, v.ASN = 7, 1000
		out = append(out, v)
	}
	return append(out, randomVectors(9, 2)...)
}

// evalWithinBudget evaluates a compiled program over vecs on a fresh Evaluator's VM and fails if one
// evaluation takes more time or memory than any rule that compiles may.
func evalWithinBudget(t *testing.T, src string, vecs []features.Vector) {
	t.Helper()
	p, cost, err := compileWhen(src, nil)
	if err != nil {
		return // refused: the other half of the contract
	}
	if cost > maxRuleCost {
		t.Fatalf("%s: compiled with a bound of %d steps, over %d", src, cost, maxRuleCost)
	}
	e := NewEvaluator()
	var before, after runtime.MemStats
	for i := range vecs {
		e.Vector = vecs[i]
		runtime.ReadMemStats(&before)
		start := time.Now()
		e.vm.Run(p, e.env) // an error (index out of range, say) is a rule not firing, and fine here
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; took > evalTimeLimit || alloc > evalAllocLimit {
			t.Fatalf("%s (bound %d steps): one evaluation took %v and allocated %d bytes", src, cost, took, alloc)
		}
	}
}

// nearTheLimit compile, and some come close to maxRuleCost: each must evaluate within budget on long strings.
var nearTheLimit = []string{
	`any(split(city, ""), # == "x")`,
	`count(split(as_org, ","), # contains "K") > 2`,
	`count(1..10000, # % 7 == hour) > 2`,
	`len(replace(city, "", "ab")) > 0`,
	`len(join(split(city, ","), "--")) > 0`,
	`upper(city + region) contains "Ɐ"`,
	`let a = city + city; let b = a + a; len(b) > 0`,
	`len(sort(split(city, ""))) > 3`,
	`len(string(1..1000)) > 0`,
	`any(1..40, country contains string(#))`,
	`all(1..30, any(1..30, # == hour))`,
	`city matches "^(a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x|y|z)+$"`,
	`median(map(1..2000, # * asn)) > 0`,
	`len(uniq(split(lower(city), ""))) > 3`,
	`len(flatten([split(city, ""), split(region, "")])) > 0`,
}

// TestCostBoundHolds: expressions the bound lets through evaluate within budget on the longest strings it
// assumes.
func TestCostBoundHolds(t *testing.T) {
	vecs := longVectors()
	for _, src := range nearTheLimit {
		if _, _, err := compileWhen(src, nil); err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		evalWithinBudget(t, src, vecs)
	}
}

// TestVMMemoryBudget: behind the static bound, the VM of every Evaluator has its own budget, lower than
// expr's default, so that an expression compiled without the bound still stops early.
func TestVMMemoryBudget(t *testing.T) {
	p, err := expr.Compile(`len(1..200000) > 0`, expr.Env(features.Vector{}))
	if err != nil {
		t.Fatal(err)
	}
	e := NewEvaluator()
	if _, err := e.vm.Run(p, e.env); err == nil || !strings.Contains(err.Error(), "memory budget exceeded") {
		t.Fatalf("a range of 200,000 on the evaluator's VM: %v", err)
	}
}

// costlyGen builds expressions from fuzz bytes out of the shapes that cost time and memory: ranges, splits,
// concatenations, replacements, joins, lets, nested predicates, patterns. Most type-check.
type costlyGen struct {
	c     chooser
	depth int // predicate nesting, for #
}

var (
	costlyFields = []string{"city", "country", "as_org", "ua_browser"}
	costlyLimits = []string{"10", "1000", "100000", "1000000000"}
)

func (g *costlyGen) pick(xs ...string) string { return xs[g.c.intn(len(xs))] }

func (g *costlyGen) str(d int) string {
	if d <= 0 {
		return g.pick(append(costlyFields, `"abcdefgh"`)...)
	}
	switch g.c.intn(11) {
	case 0:
		return g.str(d-1) + " + " + g.str(d-1)
	case 1:
		return "upper(" + g.str(d-1) + ")"
	case 2:
		return `replace(` + g.str(d-1) + `, "", ` + g.str(d-1) + `)`
	case 3:
		return "join(" + g.coll(d-1) + ", " + g.str(d-1) + ")"
	case 4:
		return "string(" + g.coll(d-1) + ")"
	case 5:
		return "repeat(" + g.str(d-1) + ", " + g.pick(costlyLimits...) + ")"
	case 6:
		return "(let v = " + g.str(d-1) + "; v + v)"
	case 7:
		if g.depth > 0 {
			return "string(#)"
		}
	case 8:
		return "trim(" + g.str(d-1) + ")"
	}
	return g.pick(costlyFields...)
}

func (g *costlyGen) coll(d int) string {
	if d <= 0 {
		return "1.." + g.pick(costlyLimits...)
	}
	switch g.c.intn(9) {
	case 0:
		return `split(` + g.str(d-1) + `, "")`
	case 1:
		return "map(" + g.coll(d-1) + ", " + g.inPredicate(func() string { return g.str(d - 1) }) + ")"
	case 2:
		return "map(" + g.coll(d-1) + ", " + g.inPredicate(func() string { return g.coll(d - 1) }) + ")"
	case 3:
		return "concat(" + g.coll(d-1) + ", " + g.coll(d-1) + ")"
	case 4:
		return "sort(" + g.coll(d-1) + ")"
	case 5:
		return "filter(" + g.coll(d-1) + ", " + g.inPredicate(func() string { return g.boolean(d - 1) }) + ")"
	case 6:
		return "[" + g.str(d-1) + ", " + g.str(d-1) + "]"
	case 7:
		return "1..asn"
	}
	return "1.." + g.pick(costlyLimits...)
}

func (g *costlyGen) inPredicate(body func() string) string {
	g.depth++
	defer func() { g.depth-- }()
	return body()
}

func (g *costlyGen) boolean(d int) string {
	switch g.c.intn(7) {
	case 0:
		return "len(" + g.coll(d) + ") > 0"
	case 1:
		return "any(" + g.coll(d) + ", " + g.inPredicate(func() string { return g.boolean(d - 1) }) + ")"
	case 2:
		return g.str(d) + " matches " + g.str(d)
	case 3:
		return g.str(d) + " contains " + g.str(d)
	case 4:
		return "count(" + g.coll(d) + ", " + g.inPredicate(func() string { return g.boolean(d - 1) }) + ") > 1"
	}
	return "len(" + g.str(d) + ") > 0"
}

// TestCostlyShapesStayInBudget runs FuzzCompileCost's check over generated expressions: each is refused or
// evaluates within budget, and the generator must produce both kinds to be worth fuzzing with.
func TestCostlyShapesStayInBudget(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 100
	}
	r := rand.New(rand.NewPCG(7, 8))
	vecs := longVectors()
	compiled := 0
	for range n {
		g := &costlyGen{c: randChooser{r}}
		src := g.boolean(1 + r.IntN(4))
		if _, _, err := compileWhen(src, nil); err == nil {
			compiled++
		}
		evalWithinBudget(t, src, vecs)
	}
	t.Logf("%d generated expressions, %d compiled and stayed in budget", n, compiled)
	if compiled < n/10 || compiled > n*9/10 {
		t.Fatalf("generator drifted: %d of %d compile", compiled, n)
	}
}

// FuzzCompileCost: any expression either does not compile or, compiled, evaluates within budget on vectors
// whose strings are as long as the cost model assumes. src is a raw expression; shape drives a generator of
// expressions aimed at time and memory.
func FuzzCompileCost(f *testing.F) {
	seeds := append([]string{
		`len(repeat(repeat("a", 999999), 999999)) > 0`,
		`len(repeat(repeat("a", 99999), 999999)) > 0`,
		`len(1..1000000000) > 0`,
		`len(map(1..5000, map(1..5000, #))) > 0`,
		`country matches city`,
		`reduce(1..40, #acc + #acc, "a") != ""`,
		`let a = city + city; let b = a + a; let c = b + b; let d = c + c; let e = d + d; len(e + e) > 0`,
		`len(replace(replace(replace(city, "", city), "", city), "", city)) > 0`,
		`len(join(split(city, ""), city)) > 0`,
		`len(string(map(1..1000, split(city, "")))) > 0`,
	}, nearTheLimit...)
	for i, s := range seeds {
		f.Add(s, []byte{byte(i), byte(i * 7), byte(i * 13), 3, 2, 1})
	}
	vecs := longVectors()
	f.Fuzz(func(t *testing.T, src string, shape []byte) {
		if len(src) > maxWhenBytes {
			return // refused by compileRule before compileWhen sees it
		}
		evalWithinBudget(t, src, vecs)
		g := &costlyGen{c: &byteChooser{b: shape}}
		evalWithinBudget(t, g.boolean(4), vecs)
	})
}
