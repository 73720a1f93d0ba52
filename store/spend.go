package store

import "math"

// spendWindow is how many purchases the spend profile averages over before it starts to forget: up to it the
// mean and variance of the log-amounts are exact (Welford's update), beyond it each purchase weighs 1/32, so a
// customer whose spending changes is followed within a few dozen purchases.
const spendWindow = 32

// minSpendAmount is the smallest amount the spend profile takes the logarithm of (a free order, 0, would be -∞).
const minSpendAmount = 0.01

// Spend is what a customer usually spends, learned from completed purchases in the reporting currency: the
// running mean and variance of the natural log of the amounts (purchases are log-normal rather than normal: a
// customer's 20 and 200 are as far apart as 200 and 2,000), the largest amount, how many purchases, and when the
// last one was. 24 bytes.
type Spend struct {
	Purchases uint32  // saturating
	MeanLog   float32 // mean of ln(amount)
	VarLog    float32 // variance of ln(amount), ≥ 0
	Largest   float32 // the largest amount, reporting currency
	LastAt    int64   // the last purchase, unix seconds; 0 = none
}

// see learns a purchase of amount (reporting currency) at time at.
func (s *Spend) see(amount float64, at int64) {
	if !(amount >= 0) || math.IsInf(amount, 0) {
		return
	}
	x := math.Log(max(amount, minSpendAmount))
	if s.Purchases < math.MaxUint32 {
		s.Purchases++
	}
	alpha := 1 / float64(min(s.Purchases, spendWindow))
	d := x - float64(s.MeanLog)
	s.MeanLog = float32(float64(s.MeanLog) + alpha*d)
	s.VarLog = float32((1 - alpha) * (float64(s.VarLog) + alpha*d*d))
	s.Largest = max(s.Largest, float32(amount))
	s.LastAt = max(s.LastAt, at)
}

// Typical returns the customer's typical amount (the geometric mean of the purchases), 0 without any.
func (s *Spend) Typical() float64 {
	if s.Purchases == 0 {
		return 0
	}
	return math.Exp(float64(s.MeanLog))
}

// SpreadLog returns the standard deviation of the log-amounts.
func (s *Spend) SpreadLog() float64 { return math.Sqrt(float64(s.VarLog)) }

// SeqKind names a sensitive change a profile remembers the time of.
type SeqKind uint8

// Sensitive changes, in the order of Sequences.At.
const (
	SeqPasswordReset SeqKind = iota // a password_reset decision, or a password_changed outcome
	SeqPaymentMethod                // a payment_method_change decision
	SeqProfileChange                // a profile_change decision (e-mail, phone, address)
	NumSeqKinds
)

// Sequences remember the last sensitive change of each kind: when, whether it came from a device new to the
// user, and for a payment-method change which device it came from. A checkout minutes after a payment-method
// change made from a new device is the cash-out of an account takeover. 40 bytes.
type Sequences struct {
	At            [NumSeqKinds]int64 // unix seconds; 0 = none within the retention
	PaymentDevice uint64             // keyed hash of the device of the last payment-method change; 0 = none given
	NewDevice     uint8              // bit k: change k came from a device new to the user (or without device_id)
}

// FromNewDevice reports whether the last change of kind k came from a device new to the user.
func (q *Sequences) FromNewDevice(k SeqKind) bool { return q.NewDevice&(1<<k) != 0 }

// see records a change of kind k at time at; a change older than the one held changes nothing.
func (q *Sequences) see(k SeqKind, at int64, newDevice, hasDevice bool, device uint64) {
	if k >= NumSeqKinds || at < q.At[k] {
		return
	}
	q.At[k] = at
	q.NewDevice &^= 1 << k
	if newDevice {
		q.NewDevice |= 1 << k
	}
	if k == SeqPaymentMethod {
		q.PaymentDevice = 0
		if hasDevice {
			q.PaymentDevice = device
		}
	}
}

// expire drops the changes made before cutoff and the purchases' profile when the last purchase was.
func (p *Profile) expireMoney(cutoff int64) (changed bool) {
	if p.Spend.LastAt != 0 && p.Spend.LastAt < cutoff {
		p.Spend = Spend{}
		changed = true
	}
	q := &p.Sequences
	for k := range NumSeqKinds {
		if q.At[k] != 0 && q.At[k] < cutoff {
			q.At[k] = 0
			q.NewDevice &^= 1 << k
			if k == SeqPaymentMethod {
				q.PaymentDevice = 0
			}
			changed = true
		}
	}
	return changed
}
