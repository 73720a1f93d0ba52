package features

import (
	"errors"
	"fmt"
	"math"

	"github.com/riskd/riskd/features/money"
	"github.com/riskd/riskd/store"
)

// Errors of an event's money, found before anything is read or counted.
var (
	// ErrUnknownCurrency: the currency is well formed but not in the rates table, so the amount cannot be compared.
	ErrUnknownCurrency = money.ErrUnknownCurrency
	// ErrAmountRequired: a checkout_completed outcome without its amount and currency.
	ErrAmountRequired = errors.New("amount and currency are required")
)

// minSpread is the smallest spread of a customer's log-amounts amount_z divides by: after two purchases of the
// same amount the spread is 0, and any other amount would be infinitely unusual. 0.5 is a factor of 1.65.
const minSpread = 0.5

// newDeviceAge is how long after its first sighting for a user a device still counts as new for the sensitive
// sequences: an attacker whose login passed (a phished second factor) has a device "known" for minutes only.
const newDeviceAge = 86400

// SwapRates publishes a new currency rates table for the requests that start after it and returns the previous one.
func (x *Extractor) SwapRates(r *money.Rates) *money.Rates { return x.rates.Swap(r) }

// Rates returns the currency rates table in use.
func (x *Extractor) Rates() *money.Rates { return x.rates.Load() }

// Convert sets ev.Reporting, the event's amount in the reporting currency, from the table in use. It is the one
// place an amount is converted: a currency the table does not know is ErrUnknownCurrency, found before the event
// changes any state.
func (x *Extractor) Convert(ev *Event) error {
	ev.Reporting = 0
	if !ev.HasAmount {
		return nil
	}
	v, err := x.rates.Load().Convert(ev.Amount, ev.Currency)
	if err != nil {
		return err
	}
	ev.Reporting = v
	return nil
}

// ConvertOutcome checks and converts a checkout_completed outcome's amount as Convert does an event's.
func (x *Extractor) ConvertOutcome(o *Outcome) error {
	o.Reporting = 0
	if !o.HasAmount {
		if o.Type == CheckoutCompleted {
			return ErrAmountRequired
		}
		return nil
	}
	v, err := x.rates.Load().Convert(o.Amount, o.Currency)
	if err != nil {
		return err
	}
	o.Reporting = v
	return nil
}

// fillMoney fills the spending and sequence fields of v from the profile read for the event.
func fillMoney(ev *Event, obs *Observation, v *Vector) {
	p := &obs.State.Profile
	v.AmountGiven = ev.Amount
	v.SincePasswordResetM, v.SincePaymentChangeM, v.SinceProfileChangeM = -1, -1, -1
	s := &p.Spend
	v.Purchases = int(s.Purchases)
	v.FirstPurchase = ev.HasAmount && s.Purchases == 0
	if s.Purchases > 0 {
		v.TypicalAmount = s.Typical()
		v.LargestAmount = float64(s.Largest)
		if ev.HasAmount {
			v.AmountRatio = ev.Reporting / max(v.TypicalAmount, 0.01)
			v.AboveLargest = ev.Reporting > v.LargestAmount
			if s.Purchases >= 3 {
				v.AmountZ = (math.Log(max(ev.Reporting, 0.01)) - float64(s.MeanLog)) / max(s.SpreadLog(), minSpread)
			}
		}
	}
	q := &p.Sequences
	since := func(k store.SeqKind, out *float64, fromNew *bool) {
		if at := q.At[k]; at != 0 {
			*out = float64(max(obs.At-at, 0)) / 60
			*fromNew = q.FromNewDevice(k)
		}
	}
	since(store.SeqPasswordReset, &v.SincePasswordResetM, &v.PasswordResetNewDevice)
	since(store.SeqPaymentMethod, &v.SincePaymentChangeM, &v.PaymentChangeNewDevice)
	since(store.SeqProfileChange, &v.SinceProfileChangeM, &v.ProfileChangeNewDevice)
	v.PaymentChangeDevice = obs.HasDevice && q.PaymentDevice != 0 && q.PaymentDevice == obs.DeviceKey
	v.LoginASNChanged = p.Last.At != 0 && p.Last.ASN != 0 && obs.Geo.ASN != 0 && p.Last.ASN != obs.Geo.ASN
}

// seqKind returns the sensitive change an event type is, if any.
func seqKind(t EventType) (store.SeqKind, bool) {
	switch t {
	case PasswordReset:
		return store.SeqPasswordReset, true
	case PaymentMethodChange:
		return store.SeqPaymentMethod, true
	case ProfileChange:
		return store.SeqProfileChange, true
	}
	return 0, false
}

// deviceIsNew reports whether the event's device is new to the user for the sensitive sequences: no device_id,
// not in the profile, or first seen by the user less than newDeviceAge before.
func deviceIsNew(obs *Observation) bool {
	if !obs.HasDevice {
		return true
	}
	p := &obs.State.Profile
	i := p.Device(obs.DeviceKey)
	return i < 0 || obs.At-p.Devices[i].FirstSeen < newDeviceAge
}

// recordSequence remembers a sensitive change that was not denied, for a user riskd has a profile of (a change
// requested for an unknown user creates nothing: store.OpSequence never creates a profile).
func (x *Extractor) recordSequence(ev *Event, obs *Observation, verdict Verdict) {
	k, ok := seqKind(ev.Type)
	if !ok || verdict == VerdictDeny || !obs.HasUser || !obs.State.HasProfile {
		return
	}
	x.state.Apply(obs.UserKey, store.ProfileOp{Kind: store.OpSequence, Seq: k, At: obs.At, HasDevice: obs.HasDevice,
		Device: obs.DeviceKey, NewDevice: deviceIsNew(obs)})
}

// Conventional attribute names: riskd checks the form of their values (a malformed one is refused, naming
// the attribute), so rules can rely on it. Other names are accepted as any short string.
var conventionalAttributes = [...]struct {
	name  string
	valid func(string) bool
	want  string
}{
	{"email_domain", validDomain, "a lower-case domain name such as example.com"},
	{"shipping_country", validCountry, "an ISO 3166-1 alpha-2 code such as SE"},
	{"billing_country", validCountry, "an ISO 3166-1 alpha-2 code such as SE"},
	{"card_country", validCountry, "an ISO 3166-1 alpha-2 code such as SE"},
	{"payment_fingerprint", validToken, "8 to 128 letters, digits, '_', '-' or ':' (a hash of the instrument, never its number)"},
	{"payment_method", validWord, "a lower-case word such as card, wallet, bank_transfer"},
	{"card_bin", validBIN, "the first 6 to 8 digits of the card"},
}

// ValidAttribute checks an attribute: its name (1 to 64 bytes of lower-case letters, digits, '_', '.' and '-')
// and, for a conventional name, its value's form. The error says what is expected.
func ValidAttribute(name, value string) error {
	if err := ValidAttributeName(name); err != nil {
		return err
	}
	for _, a := range conventionalAttributes {
		if a.name == name {
			if !a.valid(value) {
				return fmt.Errorf("%s must be %s", name, a.want)
			}
			return nil
		}
	}
	return nil
}

// ValidAttributeName checks an attribute name: 1 to 64 bytes of lower-case letters, digits, '_', '.' and '-'.
func ValidAttributeName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return errors.New("attribute names are 1 to 64 bytes")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return errors.New("attribute names hold lower-case letters, digits, '_', '.' and '-'")
		}
	}
	return nil
}

// AttributeNames lists the conventional attribute names, for documentation and tests.
func AttributeNames() []string {
	out := make([]string, len(conventionalAttributes))
	for i, a := range conventionalAttributes {
		out[i] = a.name
	}
	return out
}

func validCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

func validDomain(s string) bool {
	if len(s) < 3 || len(s) > 253 || s[0] == '.' || s[len(s)-1] == '.' || s[0] == '-' {
		return false
	}
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if s[i-1] == '.' {
				return false
			}
			dot = true
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		default:
			return false
		}
	}
	return dot
}

func validToken(s string) bool {
	if len(s) < 8 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':') {
			return false
		}
	}
	return true
}

func validWord(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

func validBIN(s string) bool {
	if len(s) < 6 || len(s) > 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Attribute returns the value of the event's attribute name ("" when it does not carry it). It allocates nothing.
func (e *Event) Attribute(name string) string {
	for i := range e.NumAttributes {
		if e.Attributes[i].Key == name {
			return e.Attributes[i].Value
		}
	}
	return ""
}
