package money

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultTable(t *testing.T) {
	r := Default()
	if r.Base != "EUR" || r.Date.IsZero() || r.Count < 40 {
		t.Fatalf("embedded table: base %q date %v count %d", r.Base, r.Date, r.Count)
	}
	if v, err := r.Convert(1000, "JPY"); err != nil || v > 10 {
		t.Fatalf("1000 JPY = %v EUR (%v); want a few euros", v, err)
	}
	if v, err := r.Convert(100, "EUR"); err != nil || v != 100 {
		t.Fatalf("100 EUR = %v (%v)", v, err)
	}
	for _, bad := range []string{"XXX", "eur", "EU", "EURO", "", "E1R"} {
		if _, err := r.Convert(1, bad); !errors.Is(err, ErrUnknownCurrency) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	cases := map[string]string{
		"no base":          "USD 0.9\n",
		"rate before base": "USD 0.9\nbase EUR\n",
		"lower case":       "base EUR\nusd 0.9\n",
		"twice":            "base EUR\nUSD 0.9\nUSD 0.8\n",
		"zero":             "base EUR\nUSD 0\n",
		"negative":         "base EUR\nUSD -1\n",
		"NaN":              "base EUR\nUSD NaN\n",
		"Inf":              "base EUR\nUSD +Inf\n",
		"huge":             "base EUR\nUSD 1e30\n",
		"base not 1":       "base EUR\nEUR 2\n",
		"three fields":     "base EUR\nUSD 0.9 x\n",
		"bad date":         "base EUR\ndate 2025-13-01\n",
		"empty":            "",
	}
	for name, in := range cases {
		if _, err := Parse([]byte(in), "f"); !errors.Is(err, ErrRatesFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
	r, err := Parse([]byte("# c\nbase USD\ndate 2026-01-02\n\nEUR 1.16 # euro\nJPY 0.0064\n"), "f")
	if err != nil || r.Base != "USD" || r.Count != 3 || strings.Join(r.Codes(), ",") != "EUR,JPY,USD" {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestConvertAllocatesNothing(t *testing.T) {
	r := Default()
	code := string([]byte("GBP"))
	if n := testing.AllocsPerRun(100, func() { _, _ = r.Convert(12.5, code) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("base EUR\nUSD 0.9\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b, "fuzz")
		if err != nil {
			return
		}
		for _, c := range r.Codes() {
			if v, ok := r.Rate(c); !ok || !(v > 0) {
				t.Fatalf("%s: %v", c, v)
			}
		}
	})
}
