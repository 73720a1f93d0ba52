package money

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrUnknownCurrency: the amount's currency is not in the rates table (or it is not a currency code).
var ErrUnknownCurrency = errors.New("unknown currency")

// ErrRatesFile: a rates file could not be parsed; the error names the line.
var ErrRatesFile = errors.New("invalid currency rates file")

// codes is the number of three-letter codes A-Z: the table is indexed by the code itself, so a lookup is one
// array read (no map, no hashing of the request's string).
const codes = 26 * 26 * 26

// maxRate bounds a rate either way: no currency is worth a billion of another, and a typo (a rate of 1e30)
// would otherwise make every amount "large".
const maxRate = 1e9

// Rates is a table of conversion rates into one reporting currency. It is immutable once built.
type Rates struct {
	// Base is the reporting currency (its rate is 1).
	Base string
	// Date is the day the rates were taken (the table's own statement); zero when the file did not say.
	Date time.Time
	// Source names where the table came from: "embedded" or the file's path.
	Source string
	// Count is the number of currencies the table knows, Base included.
	Count int
	rate  [codes]float64 // 0 = unknown
}

// index returns the table index of a three-letter upper-case code.
func index(code string) (int, bool) {
	if len(code) != 3 {
		return 0, false
	}
	n := 0
	for i := 0; i < 3; i++ {
		c := code[i]
		if c < 'A' || c > 'Z' {
			return 0, false
		}
		n = n*26 + int(c-'A')
	}
	return n, true
}

// Rate returns the rate of code, and whether the table knows it.
func (r *Rates) Rate(code string) (float64, bool) {
	i, ok := index(code)
	if !ok || r.rate[i] == 0 {
		return 0, false
	}
	return r.rate[i], true
}

// Convert returns amount, in currency code, in the reporting currency. It allocates nothing.
func (r *Rates) Convert(amount float64, code string) (float64, error) {
	rate, ok := r.Rate(code)
	if !ok {
		return 0, ErrUnknownCurrency
	}
	return amount * rate, nil
}

// Codes returns the currency codes the table knows, sorted.
func (r *Rates) Codes() []string {
	var out []string
	for i, v := range r.rate {
		if v != 0 {
			out = append(out, string([]byte{byte('A' + i/676), byte('A' + i/26%26), byte('A' + i%26)}))
		}
	}
	return out
}

//go:embed rates.txt
var embedded []byte

// Default returns the embedded table (rates.txt of this package), which states its date; a deployment that
// takes money should give riskd a current file with --currency-rates.
func Default() *Rates {
	r, err := Parse(embedded, "embedded")
	if err != nil {
		panic("money: the embedded rates table does not parse: " + err.Error()) // a build defect, caught by tests
	}
	return r
}

// Parse reads a rates file:
//
//	# comments and blank lines are ignored
//	base EUR          the reporting currency (required, first)
//	date 2026-12-01   the day the rates were taken (optional)
//	USD 0.92          one unit of USD is worth 0.92 EUR
//
// Every other line is a code and its rate in the reporting currency. Codes are three upper-case letters, each
// at most once; rates are positive, finite decimal numbers within 1e-9..1e9. A file is taken whole or refused.
func Parse(b []byte, source string) (*Rates, error) {
	r := &Rates{Source: source}
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	fail := func(format string, args ...any) (*Rates, error) {
		return nil, fmt.Errorf("%w: %s:%d: %s", ErrRatesFile, source, line, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		if text == "" {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 2 {
			return fail("want two fields (CODE RATE, base CODE or date YYYY-MM-DD), got %d", len(f))
		}
		switch f[0] {
		case "base":
			if r.Base != "" {
				return fail("base given twice")
			}
			i, ok := index(f[1])
			if !ok {
				return fail("base %q is not an ISO 4217 code (three upper-case letters)", f[1])
			}
			if r.rate[i] != 0 {
				return fail("base %s comes after its rate", f[1])
			}
			r.Base = f[1]
			r.rate[i] = 1
			r.Count++
			continue
		case "date":
			if !r.Date.IsZero() {
				return fail("date given twice")
			}
			d, err := time.Parse(time.DateOnly, f[1])
			if err != nil {
				return fail("date %q is not YYYY-MM-DD", f[1])
			}
			r.Date = d
			continue
		}
		if r.Base == "" {
			return fail("the first line must name the reporting currency: base CODE")
		}
		i, ok := index(f[0])
		if !ok {
			return fail("%q is not an ISO 4217 code (three upper-case letters)", f[0])
		}
		if r.rate[i] != 0 {
			return fail("%s given twice", f[0])
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 1/maxRate || v > maxRate {
			return fail("rate of %s must be a number from 1e-9 to 1e9, got %q", f[0], f[1])
		}
		if f[0] == r.Base && v != 1 {
			return fail("the base currency's rate must be 1")
		}
		r.rate[i] = v
		r.Count++
	}
	if err := sc.Err(); err != nil {
		return fail("%v", err)
	}
	if r.Base == "" {
		return nil, fmt.Errorf("%w: %s: no base currency (a line \"base EUR\")", ErrRatesFile, source)
	}
	return r, nil
}
