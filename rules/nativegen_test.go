package rules

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"

	"github.com/riskd/riskd/features"
)

// Generators for the differential tests: feature vectors full of edge values, and rule expressions from a
// small grammar of what analysts write, with shapes outside the native subset mixed in.

var (
	// Ints where float64 conversion rounds (2^24+1 would in float32, 2^53+1 does in float64) or overflows.
	edgeInts = []int{0, 1, -1, 2, 3, 5, 7, 10, 20, 50, 120, 300, 666, 777, 1000, -1000, 1<<24 + 1,
		1 << 53, 1<<53 + 1, math.MaxInt, math.MinInt, math.MaxInt - 1, math.MinInt + 1}
	// Floats, and every edge int as a float, so that int and float fields often hold the same value.
	edgeFloats = append([]float64{math.Copysign(0, -1), 0.1, 0.2, 0.3, 0.5, 2.5, 500, 1000.5, 1<<53 + 2,
		1e308, -1e308, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN()},
		floats(edgeInts)...)
	edgeStrings = []string{"", "RU", "US", "KP", "CN", "checkout", "login", "a", "ab", "b", "A", "U",
		"Berlin", "Ber", "é", "日本", "x\x00y", "Example LLC", "LLC"}
)

func floats(xs []int) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

// randomVector fills every field of a Vector: mostly small or edge values, so that fields often equal each
// other and the constants expressions use.
func randomVector(r *rand.Rand) features.Vector {
	var v features.Vector
	rv := reflect.ValueOf(&v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(r.IntN(2) == 0)
		case reflect.Int:
			switch r.IntN(4) {
			case 0:
				f.SetInt(int64(r.IntN(9) - 3))
			case 1:
				f.SetInt(r.Int64() - math.MaxInt64/2)
			default:
				f.SetInt(int64(edgeInts[r.IntN(len(edgeInts))]))
			}
		case reflect.Float64:
			switch r.IntN(4) {
			case 0:
				f.SetFloat(float64(r.IntN(9) - 3))
			case 1:
				f.SetFloat(r.NormFloat64() * 1000)
			default:
				f.SetFloat(edgeFloats[r.IntN(len(edgeFloats))])
			}
		case reflect.String:
			f.SetString(edgeStrings[r.IntN(len(edgeStrings))])
		}
	}
	return v
}

func randomVectors(seed uint64, n int) []features.Vector {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]features.Vector, n)
	for i := range out {
		out[i] = randomVector(r)
	}
	return out
}

// chooser makes the generator's choices: from a PRNG in tests, from the fuzzer's bytes in FuzzFastPath.
type chooser interface{ intn(n int) int }

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) int { return c.r.IntN(n) }

// byteChooser reads choices from fuzz input; once it runs dry every choice is 0, which is always a leaf.
type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	x := int(c.b[0]) % n
	c.b = c.b[1:]
	return x
}

type exprGen struct {
	c                         chooser
	bools, ints, floats, strs []string
	sb                        strings.Builder
}

func newExprGen(c chooser) *exprGen {
	g := &exprGen{c: c}
	for _, f := range features.Fields() {
		switch f.Type {
		case "bool":
			g.bools = append(g.bools, f.Name)
		case "int":
			g.ints = append(g.ints, f.Name)
		case "float":
			g.floats = append(g.floats, f.Name)
		case "string":
			g.strs = append(g.strs, f.Name)
		}
	}
	return g
}

var (
	intLits = []string{"0", "1", "2", "3", "5", "20", "666", "-1", "-7", "1000", "16777217",
		"9007199254740993", "9223372036854775807"}
	floatLits = []string{"0.0", "0.5", "2.5", "1000.0", "1e308", "-0.0", "1.5e-300", "0.1", "0.3", "1000.5",
		"16777217.0", "9007199254740993.0"}
	strLits  = []string{`""`, `"RU"`, `"US"`, `"KP"`, `"checkout"`, `"a"`, `"é"`, `"U"`, `"Ber"`, `"LLC"`}
	cmpOps   = []string{"==", "!=", "<", "<=", ">", ">="}
	arithOps = []string{"+", "-", "*", "/", "%", "**", "^"}
)

func (g *exprGen) pick(xs []string) string { return xs[g.c.intn(len(xs))] }

// expression returns a boolean expression of at most depth levels (most of which type-check).
func (g *exprGen) expression(depth int) string {
	g.sb.Reset()
	g.boolean(depth)
	return g.sb.String()
}

func (g *exprGen) w(ss ...string) {
	for _, s := range ss {
		g.sb.WriteString(s)
	}
}

func (g *exprGen) boolean(d int) {
	if d <= 0 {
		if g.c.intn(4) == 3 {
			g.w(g.pick([]string{"true", "false"}))
			return
		}
		g.w(g.pick(g.bools))
		return
	}
	switch g.c.intn(20) {
	case 0:
		g.w(g.pick(g.bools))
	case 1:
		g.w(g.pick([]string{"true", "false"}))
	case 2, 3, 4:
		g.number(d - 1)
		g.w(" ", g.pick(cmpOps), " ")
		g.number(d - 1)
	case 5:
		g.str(d - 1)
		g.w(" ", g.pick(cmpOps), " ")
		g.str(d - 1)
	case 6:
		g.boolean(d - 1)
		g.w(" ", g.pick([]string{"==", "!="}), " ")
		g.boolean(d - 1)
	case 7:
		g.w(g.pick([]string{"!", "not ", "!!"}))
		g.paren(d - 1)
	case 8, 9:
		g.paren(d - 1)
		g.w(" ", g.pick([]string{"&&", "||", "and", "or"}), " ")
		g.paren(d - 1)
	case 10, 11:
		g.constIn(d)
	case 12:
		g.operandIn(d)
	case 13:
		g.str(d - 1)
		g.w(" ", g.pick([]string{"contains", "startsWith", "endsWith"}), " ")
		g.str(d - 1)
	case 14:
		g.w("(")
		g.boolean(d - 1)
		g.w(" ? ")
		g.boolean(d - 1)
		g.w(" : ")
		g.boolean(d - 1)
		g.w(")")
	case 15:
		g.w(g.pick(g.ints), g.pick([]string{" in ", " not in "}), g.pick(intLits), "..", g.pick(intLits))
	case 16:
		g.paren(d - 1)
	default:
		g.unsupported(d)
	}
}

func (g *exprGen) paren(d int) {
	g.w("(")
	g.boolean(d)
	g.w(")")
}

// constIn is `x in [constants]`: all strings or all ints (the optimiser's sets), or a mix ([]any).
func (g *exprGen) constIn(d int) {
	op := g.pick([]string{" in ", " not in "})
	n := g.c.intn(12)
	var elems []string
	switch g.c.intn(4) {
	case 0:
		g.str(d - 1)
		for range n {
			elems = append(elems, g.pick(strLits))
		}
	case 1:
		g.number(d - 1)
		for range n {
			elems = append(elems, g.pick(intLits))
		}
	case 2:
		g.number(d - 1)
		for range n {
			elems = append(elems, g.pick([][]string{intLits, floatLits, strLits, {"true", "false"}}[g.c.intn(4)]))
		}
	default:
		g.boolean(d - 1)
		for range n {
			elems = append(elems, g.pick([]string{"true", "false", "1", `"a"`}))
		}
	}
	g.w(op, "[", strings.Join(elems, ", "), "]")
}

// operandIn is `x in [operands]`, which the optimiser leaves an array node.
func (g *exprGen) operandIn(d int) {
	n := g.c.intn(4)
	operand := [](func(int)){g.str, g.number, g.boolean}[g.c.intn(3)]
	operand(d - 1)
	g.w(g.pick([]string{" in [", " not in ["}))
	for i := range n {
		if i > 0 {
			g.w(", ")
		}
		if g.c.intn(4) == 0 {
			[](func(int)){g.str, g.number, g.boolean}[g.c.intn(3)](d - 1)
		} else {
			operand(d - 1)
		}
	}
	g.w("]")
}

// unsupported writes shapes the native compiler must leave to the VM; some of them fail at run time.
func (g *exprGen) unsupported(d int) {
	switch g.c.intn(10) {
	case 0:
		g.str(d - 1)
		g.w(" == nil")
	case 1:
		g.str(d - 1)
		g.w(` matches "^[A-Z]"`)
	case 2:
		g.w(g.pick(g.floats), " in 1..5")
	case 3:
		g.w("(")
		g.str(d - 1)
		g.w(" + ")
		g.str(d - 1)
		g.w(") == ", g.pick(strLits))
	case 4:
		g.w("abs(")
		g.number(d - 1)
		g.w(") > ", g.pick(intLits))
	case 5:
		g.w(g.pick(g.ints), " % ", g.pick(g.ints), " == 0") // fails when the divisor is 0
	case 6:
		g.w("(", g.pick(g.bools), " ? 1 : 2.5) > ")
		g.number(d - 1)
	case 7:
		g.w("$env.", g.pick(g.ints), " > ", g.pick(intLits))
	case 8:
		g.w("let x = ", g.pick(g.ints), "; x > ", g.pick(intLits))
	default:
		g.w("lower(")
		g.str(d - 1)
		g.w(`) == "ru"`)
	}
}

func (g *exprGen) number(d int) {
	if d <= 0 {
		switch g.c.intn(4) {
		case 0:
			g.w(g.pick(g.ints))
		case 1:
			g.w(g.pick(g.floats))
		case 2:
			g.w(g.pick(intLits))
		default:
			g.w(g.pick(floatLits))
		}
		return
	}
	switch g.c.intn(10) {
	case 0, 1, 2:
		g.number(0)
	case 3:
		op := g.pick([]string{"-", "+", "-("})
		g.w(op)
		g.number(d - 1)
		if op == "-(" {
			g.w(")")
		}
	case 4, 5:
		g.w("(")
		g.number(d - 1)
		g.w(" ", g.pick(arithOps), " ")
		g.number(d - 1)
		g.w(")")
	case 6:
		g.w("(")
		g.boolean(d - 1)
		g.w(" ? ")
		g.number(d - 1)
		g.w(" : ")
		g.number(d - 1)
		g.w(")")
	case 7:
		g.w("len(")
		g.str(d - 1)
		g.w(")")
	case 8:
		g.w(g.pick([]string{"abs(", "int(", "float("}))
		g.number(d - 1)
		g.w(")")
	default:
		g.w("(")
		g.number(d - 1)
		g.w(")")
	}
}

func (g *exprGen) str(d int) {
	if d <= 0 || g.c.intn(3) > 0 {
		if g.c.intn(3) == 0 {
			g.w(g.pick(strLits))
			return
		}
		g.w(g.pick(g.strs))
		return
	}
	switch g.c.intn(3) {
	case 0:
		g.w("(")
		g.boolean(d - 1)
		g.w(" ? ")
		g.str(d - 1)
		g.w(" : ")
		g.str(d - 1)
		g.w(")")
	case 1:
		g.w("(")
		g.str(d - 1)
		g.w(" + ")
		g.str(d - 1)
		g.w(")")
	default:
		g.w("upper(")
		g.str(d - 1)
		g.w(")")
	}
}
