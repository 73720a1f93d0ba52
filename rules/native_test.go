package rules

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"

	"github.com/riskd/riskd/features"
)

// nativeCases are expressions over every construct of the native subset and its edges, and shapes that must
// stay on the VM. native says which.
var nativeCases = []struct {
	src    string
	native bool
}{
	// Booleans.
	{`is_tor`, true},
	{`!is_tor`, true},
	{`not is_tor`, true},
	{`!!is_tor`, true},
	{`true`, true},
	{`false`, true},
	{`is_tor == true`, true},
	{`is_tor != false`, true},
	{`false == is_vpn`, true},
	{`is_tor == is_vpn`, true},
	{`is_tor != is_vpn`, true},
	{`is_public_proxy || is_residential_proxy`, true},
	{`is_tor && is_vpn`, true},
	{`is_tor and is_vpn or not is_hosting`, true},
	{`(is_tor || is_vpn) && !(is_hosting)`, true},
	{`is_tor || is_vpn && is_hosting`, true},
	{`true && is_tor`, true},
	{`is_tor || false`, true},

	// Ints.
	{`asn == 666`, true},
	{`asn != 666`, true},
	{`666 == asn`, true},
	{`asn == hour`, true},
	{`asn < 0`, true},
	{`asn <= -1`, true},
	{`-1 >= asn`, true},
	{`-asn > 5`, true},
	{`- -asn == asn`, true},
	{`-(-asn) == asn`, true},
	{`+asn == asn`, true},
	{`-(asn) < -100`, true},
	{`asn == 9223372036854775807`, true},
	{`asn == 9007199254740993`, true},
	{`asn == asn`, true},
	{`ip_failures_1m >= 20 || ip_failures_10m >= 50`, true},

	// Floats, and ints meeting floats.
	{`amount > 500`, true},
	{`amount >= 1000`, true},
	{`500 < amount`, true},
	{`amount == 0`, true},
	{`amount != amount`, true}, // NaN
	{`amount == amount`, true},
	{`amount == -0.0`, true},
	{`amount > 1e308`, true},
	{`amount < -1e308`, true},
	{`amount == 1000.0`, true},
	{`amount > hour`, true},
	{`hour < amount`, true},
	{`asn == amount`, true},
	{`asn != lat`, true},
	{`asn < 2.5`, true},
	{`2.5 > asn`, true},
	{`asn >= 9007199254740993.0`, true},
	{`asn == 9007199254740992.0`, true},
	{`asn == 16777217.0`, true},
	{`16777217.0 != asn`, true},
	{`1 < 2.5`, true},
	{`travel_kmh > 1000 && travel_km > 300`, true},
	{`since_last_login_h < 0`, true},

	// Strings.
	{`country == "RU"`, true},
	{`country != ""`, true},
	{`country == ""`, true},
	{`country < "M"`, true},
	{`country >= city`, true},
	{`"US" == country`, true},
	{`"" < country`, true},
	{`country > region`, true},
	{`event == "checkout" && amount >= 1000`, true},
	{`city == "日本"`, true},

	// in: the optimiser's sets, []any of mixed constants, arrays of operands, ranges.
	{`country in ["RU", "KP"]`, true},
	{`country not in ["RU", "KP"]`, true},
	{`country in ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "RU"]`, true},
	{`country in ["RU", "RU", ""]`, true},
	{`country in []`, true},
	{`asn in []`, true},
	{`asn in [1, 2, 3]`, true},
	{`asn in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 666]`, true},
	{`asn not in [666]`, true},
	{`asn in [-1, 2]`, true},
	{`asn in [1, 2.5]`, true},
	{`asn in [0.0]`, true},
	{`asn in [9007199254740992.0]`, true},
	{`amount in [1, 2.5]`, true},
	{`amount in [0, 1000]`, true},
	{`amount in [-1, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1000]`, true},
	{`is_tor in [true]`, true},
	{`is_tor in [false, true]`, true},
	{`country in ["a", 1]`, true},
	{`asn in [1, "a"]`, true},
	{`asn in [1, true]`, true},
	{`country in [region, city]`, true},
	{`country in [region, "US"]`, true},
	{`asn in [hour, 5]`, true},
	{`amount in [asn, hour]`, true},
	{`true in [true, is_vpn]`, true},
	{`false in [is_tor, false]`, true},
	{`is_tor in [is_vpn, true]`, true},
	{`asn in [amount, lat]`, true},
	{`hour in 1..5`, true},
	{`hour not in 9..17`, true},
	{`hour in 5..1`, true},

	// Arithmetic.
	{`asn + 1 > 1`, true},
	{`asn + 1 < asn`, true}, // wraps at MaxInt
	{`asn - hour == 0`, true},
	{`asn * 2 == 0`, true},
	{`asn * asn < 0`, true},
	{`asn / 2 > 1`, true},
	{`asn / 2 == 0.5`, true},
	{`asn / 0 > 0`, true},
	{`asn / 0 == asn / 0`, true},
	{`hour / asn > 0.5`, true},
	{`0 / asn != 0 / asn`, true},
	{`amount / 0 > 0`, true},
	{`-amount / 0 < 0`, true},
	{`1 / 0 > 0`, true},
	{`amount * 100 / 3 > 5`, true},
	{`amount + asn > 0`, true},
	{`lat - lon < 1`, true},
	{`amount * 0.1 + 0.2 == 0.3`, true},
	{`lat * lon + amount == amount + lat * lon`, true},
	{`lat * lon - amount * travel_km == 0`, true},
	{`asn % 2 == 0`, true},
	{`asn % -1 == 0`, true},
	{`asn % 7 < 3`, true},
	{`(asn + hour) % 3 == 1`, true},
	{`asn ** 2 > 100`, true},
	{`amount ^ 0.5 > 10`, true},
	{`2 ** hour > 1000`, true},
	{`-amount == 0`, true},
	{`-(amount - amount) == 0`, true},

	// Strings, lengths, ternaries.
	{`len(country) == 2`, true},
	{`len(city) > 3`, true},
	{`len("") == 0`, true},
	{`country contains "U"`, true},
	{`city startsWith "Ber"`, true},
	{`as_org endsWith "LLC"`, true},
	{`country contains ""`, true},
	{`city startsWith country`, true},
	{`(is_tor ? asn : hour) > 5`, true},
	{`(is_vpn ? "x" : country) == "x"`, true},
	{`is_tor ? is_vpn : is_hosting`, true},
	{`(is_tor ? amount : lat) > 0`, true},
	{`if is_tor { asn > 1 } else { hour < 3 }`, true},

	// Left to the VM.
	{`country == nil`, false},
	{`country + "x" == "RUx"`, false},
	{`asn % hour == 0`, false}, // fails when hour is 0
	{`asn % 0 == 0`, false},    // always fails
	{`country matches "^R"`, false},
	{`abs(asn) > 1`, false},
	{`max(asn, 2) > 1`, false},
	{`lower(country) == "ru"`, false},
	{`$env.asn > 1`, false},
	{`let x = asn; x > 1`, false},
	{`amount in 1..5`, false},
	{`(is_tor ? 1 : 2.5) > 0`, false},
	{`int(amount) > 5`, false},
	{`float(asn) > 5`, false},
	{`string(asn) == "1"`, false},
	{`all([asn, hour], # > 0)`, false},
	{`[asn, hour][0] > 1`, false},
	{`country[0:1] == "R"`, false},
	{`len([asn]) == 1`, false},
	{`any([1, 2], # == asn)`, false},
	{`country in [region, asn]`, true}, // an int element never equals a string needle
}

// agree compiles src and, when it compiles natively, checks that the native form and the VM give the same
// answer over every vector, the VM without error. It reports whether src compiled and whether natively.
func agree(t testing.TB, nc *nativeCompiler, src string, vecs []features.Vector) (compiled, native bool) {
	t.Helper()
	p, _, err := compileWhen(src, nil)
	if err != nil {
		return false, false
	}
	fn := nc.compile(p.Node())
	if fn == nil {
		return true, false
	}
	var m vm.VM
	for i := range vecs {
		v := &vecs[i]
		out, err := m.Run(p, boxVector(v))
		if err != nil {
			t.Fatalf("%s: native, but the VM fails: %v\nvector %+v", src, err, *v)
		}
		want, ok := out.(bool)
		if !ok {
			t.Fatalf("%s: native, but the VM returns %T %v", src, out, out)
		}
		if got := fn(v); got != want {
			t.Fatalf("%s: native %v, VM %v\nvector %+v", src, got, want, *v)
		}
	}
	return true, true
}

func TestNativeMatchesVM(t *testing.T) {
	nc := newNativeCompiler()
	vecs := append(randomVectors(1, 3000), features.Vector{})
	for _, c := range nativeCases {
		compiled, native := agree(t, nc, c.src, vecs)
		if !compiled {
			t.Errorf("%s: does not compile", c.src)
			continue
		}
		if native != c.native {
			t.Errorf("%s: native = %v, want %v", c.src, native, c.native)
		}
	}
}

// TestNativeRandomExpressions runs the differential check over generated expressions.
func TestNativeRandomExpressions(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	nc := newNativeCompiler()
	r := rand.New(rand.NewPCG(2, 3))
	g := newExprGen(randChooser{r})
	vecs := append(randomVectors(4, 24), features.Vector{})
	var compiled, native int
	for range n {
		src := g.expression(1 + r.IntN(5))
		c, nat := agree(t, nc, src, vecs)
		if c {
			compiled++
		}
		if nat {
			native++
		}
	}
	t.Logf("%d expressions: %d compile, %d of them native", n, compiled, native)
	// The generator is only useful if it exercises both paths.
	if compiled < n/4 || native < compiled/4 || native == compiled {
		t.Fatalf("generator drifted: %d expressions, %d compile, %d native", n, compiled, native)
	}
}

// FuzzFastPath checks that whatever compiles natively agrees with the VM: src is a raw expression, gen drives
// the expression generator, seed the vectors.
func FuzzFastPath(f *testing.F) {
	for i, c := range nativeCases {
		f.Add(c.src, []byte{byte(i), byte(i * 7), byte(i * 13)}, uint64(i))
	}
	f.Add(`asn in [1, 2.5] && (is_tor ? amount : lat) / 0 < asn % 3`, []byte("\x02\x05\x08\x0a\x0c\x10"), uint64(99))
	nc := newNativeCompiler()
	f.Fuzz(func(t *testing.T, src string, gen []byte, seed uint64) {
		vecs := append(randomVectors(seed, 8), features.Vector{})
		agree(t, nc, src, vecs)
		agree(t, nc, newExprGen(&byteChooser{b: gen}).expression(4), vecs)
	})
}

func TestDefaultRulesAreNative(t *testing.T) {
	set, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for i := range set.Rules {
		if r := &set.Rules[i]; !r.Native() {
			t.Errorf("rule %s (%s) runs on the VM", r.ID, r.When)
		}
	}
	if set.NativeRules() != len(set.Rules) {
		t.Fatalf("NativeRules() = %d of %d", set.NativeRules(), len(set.Rules))
	}
}

// TestEvaluateNativeMatchesVM compares whole evaluations, native against VM only, over a set mixing native
// rules, VM rules and a rule that fails on the VM, with scores, actions, shadow rules and event filters.
func TestEvaluateNativeMatchesVM(t *testing.T) {
	var b strings.Builder
	b.WriteString("thresholds: {step_up: 40, deny: 80}\nrules:\n")
	actions := []string{"score: 25", "score: -10", "score: 40", "action: deny", "action: allow", "action: step_up"}
	for i, c := range nativeCases {
		fmt.Fprintf(&b, "  - {id: r%d, when: %q, %s", i, c.src, actions[i%len(actions)])
		if i%5 == 0 {
			b.WriteString(", mode: shadow")
		}
		if i%4 == 0 {
			b.WriteString(", events: [checkout, login]")
		}
		b.WriteString("}\n")
	}
	set, err := Compile("t.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if set.NativeRules() == 0 || set.NativeRules() == len(set.Rules) {
		t.Fatalf("%d of %d rules native, want a mix", set.NativeRules(), len(set.Rules))
	}
	ref := VMOnly(set)
	if ref.NativeRules() != 0 {
		t.Fatal("VMOnly left native rules")
	}
	en, ev := NewEvaluator(), NewEvaluator()
	var got, want Result
	errored := false
	for i, v := range append(randomVectors(5, 2000), features.Vector{}) {
		et := features.EventType(1 + i%6)
		en.Vector, ev.Vector = v, v
		set.Evaluate(en, Input{Type: et}, &got)
		ref.Evaluate(ev, Input{Type: et}, &want)
		if got.Score != want.Score || got.Action != want.Action || got.ByScore != want.ByScore ||
			got.Errors != want.Errors || !slices.Equal(got.Fired, want.Fired) {
			t.Fatalf("event %v: native %+v, VM %+v\nvector %+v", et, got, want, v)
		}
		errored = errored || got.Errors > 0
	}
	if !errored {
		t.Fatal("no evaluation counted a failing rule; the set lost its asn % 0 rule")
	}
}
