package store

import (
	"encoding/hex"
	"errors"
	"math"
	"testing"
)

// profileV3 is fullProfile with an MFA preference and its first device trusted by tenant 77, as the format-3
// encoder (before the spend profile and the sequences) wrote it: data dirs and Redis hold such profiles.
const profileV3 = "03e0eca0d50c2802082000000000000000e084cbd50c00e084cbd50c4d2100000000000000c0adccd50c00c0adccd50c002200000000000000a0d6cdd50c00a0d6cdd50c00230000000000000080ffced50c0080ffced50c002400000000000000e0a7d0d50c00e0a7d0d50c002500000000000000c0d0d1d50c00c0d0d1d50c002600000000000000a0f9d2d50c00a0f9d2d50c00270000000000000080a2d4d50c0080a2d4d50c00084341e084cbd50c014441c0adccd50c014541a0d6cdd50c01464180ffced50c014741e0a7d0d50c014841c0d0d1d50c014941a0f9d2d50c014a4180a2d4d50c0180a2d4d50c014a410000803f00000040058b018f08062801e04c2201e04c2301e04c2401e04c2501e04c2601e04c068f0801e04c890801e04c8a0801e04c8b0801e04c8c0801e04c8d0801e04c068b0101e04c850101e04c860101e04c870101e04c880101e04c890101e04c060101e04c0206e04c0306e04c0406e04c0506e04c0605e04c3f05e04c0ae04c05e04c05e04c0ae04c05e04c0f0ae04c0ae04c0ae04c0ae04c"

// TestDecodesFormat3: a profile written before the spend profile loads with everything it held, an empty Spend
// and no Sequences, and learns purchases on top.
func TestDecodesFormat3(t *testing.T) {
	raw, err := hex.DecodeString(profileV3)
	if err != nil || raw[0] != profileFormatV3 {
		t.Fatalf("golden profile: %v, format %d", err, raw[0])
	}
	var p Profile
	if err := DecodeProfile(raw, &p); err != nil {
		t.Fatal(err)
	}
	want := fullProfile()
	want.MFAPreference = 2
	want.Devices[0].TrustedBy = 77
	if p != want {
		t.Fatalf("format 3:\n got %+v\nwant %+v", p, want)
	}
	p.Apply(&ProfileOp{Kind: OpPurchase, At: p.Last.At + 60, Amount: 40})
	re := AppendProfile(nil, &p)
	var q Profile
	if re[0] != profileFormat || DecodeProfile(re, &q) != nil || q != p || q.Spend.Purchases != 1 {
		t.Fatalf("does not re-encode in the current format: %+v", q.Spend)
	}
}

func TestSpendLearns(t *testing.T) {
	var p Profile
	at := int64(1_700_000_000)
	for i, a := range []float64{20, 40, 20, 40} {
		p.Apply(&ProfileOp{Kind: OpPurchase, At: at + int64(i), Amount: a})
	}
	s := p.Spend
	if s.Purchases != 4 || s.Largest != 40 || s.LastAt != at+3 {
		t.Fatalf("%+v", s)
	}
	// The geometric mean of 20 and 40, and the spread of ln 20 and ln 40 about it: ln 2 / 2.
	if math.Abs(s.Typical()-math.Sqrt(800)) > 0.01 || math.Abs(s.SpreadLog()-math.Ln2/2) > 1e-4 {
		t.Fatalf("typical %v spread %v", s.Typical(), s.SpreadLog())
	}
	// Far more purchases than the window: the statistics stay finite and follow the new level.
	for i := range 500 {
		p.Apply(&ProfileOp{Kind: OpPurchase, At: at + 10 + int64(i), Amount: 100})
	}
	if math.Abs(p.Spend.Typical()-100) > 1 || p.Spend.Largest != 100 {
		t.Fatalf("after a change of habit: %+v", p.Spend)
	}
	// A free order (0) and a bad amount neither break nor poison it.
	p.Apply(&ProfileOp{Kind: OpPurchase, At: at + 1000, Amount: 0})
	p.Apply(&ProfileOp{Kind: OpPurchase, At: at + 1001, Amount: math.NaN()})
	if v := p.Spend.MeanLog; math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		t.Fatalf("mean %v", v)
	}
}

func TestSequencesAndExpiry(t *testing.T) {
	var p Profile
	// A change for a user without a profile creates none.
	op := ProfileOp{Kind: OpSequence, Seq: SeqPaymentMethod, At: 100, HasDevice: true, Device: 9, NewDevice: true}
	if op.Creates() {
		t.Fatal("a sequence op creates a profile")
	}
	p.Apply(&ProfileOp{Kind: OpLogin, At: 50})
	p.Apply(&op)
	p.Apply(&ProfileOp{Kind: OpSequence, Seq: SeqPasswordReset, At: 120})
	q := p.Sequences
	if q.At[SeqPaymentMethod] != 100 || q.PaymentDevice != 9 || !q.FromNewDevice(SeqPaymentMethod) ||
		q.At[SeqPasswordReset] != 120 || q.FromNewDevice(SeqPasswordReset) {
		t.Fatalf("%+v", q)
	}
	// An older change does not replace a newer one.
	p.Apply(&ProfileOp{Kind: OpSequence, Seq: SeqPaymentMethod, At: 90})
	if p.Sequences.At[SeqPaymentMethod] != 100 || p.Sequences.PaymentDevice != 9 {
		t.Fatalf("older change applied: %+v", p.Sequences)
	}
	p.Apply(&ProfileOp{Kind: OpPurchase, At: 110, Amount: 10})
	b := AppendProfile(nil, &p)
	var r Profile
	if err := DecodeProfile(b, &r); err != nil || r != p {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, r, p)
	}
	// Retention: the purchase (110) and the payment change (100) go, the reset (120) stays.
	if changed, _ := p.Expire(115); !changed || p.Spend != (Spend{}) || p.Sequences.At[SeqPaymentMethod] != 0 ||
		p.Sequences.PaymentDevice != 0 || p.Sequences.At[SeqPasswordReset] != 120 {
		t.Fatalf("after expiry: %+v %+v", p.Spend, p.Sequences)
	}
	if _, empty := p.Expire(1000); !empty || p != (Profile{}) {
		t.Fatalf("everything expired: %+v", p)
	}
}

func TestMoneyCodecStrict(t *testing.T) {
	var p Profile
	p.Apply(&ProfileOp{Kind: OpPurchase, At: 1_700_000_000, Amount: 30})
	p.Apply(&ProfileOp{Kind: OpSequence, Seq: SeqPaymentMethod, At: 1_700_000_100, HasDevice: true, Device: 5, NewDevice: true})
	good := AppendProfile(nil, &p)
	var q Profile
	if err := DecodeProfile(good, &q); err != nil || q != p {
		t.Fatalf("%v", err)
	}
	n := len(good)
	// Layout from the end: held byte, 1 varint time (5 bytes), flags, device (8).
	damage := map[string]func(b []byte) []byte{
		"unknown sequence bit":      func(b []byte) []byte { b[n-8-1-5-1] |= 1 << 5; return b },
		"flag of a change not held": func(b []byte) []byte { b[n-8-1] = 1 << SeqPasswordReset; return b },
		"payment device 0":          func(b []byte) []byte { copy(b[n-8:], make([]byte, 8)); return b },
		"truncated":                 func(b []byte) []byte { return b[:n-3] },
		"NaN mean": func(b []byte) []byte {
			i := n - 8 - 1 - 5 - 1 - 5 - 12
			copy(b[i:], []byte{0, 0, 0xc0, 0x7f})
			return b
		},
	}
	for name, f := range damage {
		b := f(append([]byte(nil), good...))
		if err := DecodeProfile(b, &q); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decoded (%v)", name, err)
		}
	}
}
