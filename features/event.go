package features

import (
	"net/netip"
	"time"
)

// EventType is the kind of event riskd decides on.
type EventType uint8

// Event types, as named in the API.
const (
	Login EventType = iota + 1
	Registration
	PasswordReset
	Checkout
	PaymentMethodChange
	ProfileChange
	NumEventTypes // one past the last event type
)

var eventTypeNames = [NumEventTypes]string{
	Login:               "login",
	Registration:        "registration",
	PasswordReset:       "password_reset",
	Checkout:            "checkout",
	PaymentMethodChange: "payment_method_change",
	ProfileChange:       "profile_change",
}

// String returns the API name of t.
func (t EventType) String() string {
	if t == 0 || t >= NumEventTypes {
		return ""
	}
	return eventTypeNames[t]
}

// ParseEventType returns the event type named s.
func ParseEventType(s string) (EventType, bool) {
	for t := Login; t < NumEventTypes; t++ {
		if eventTypeNames[t] == s {
			return t, true
		}
	}
	return 0, false
}

// Sensitive reports whether t is a sensitive transaction: one a customer with the "sensitive" MFA preference
// wants a second factor for.
func (t EventType) Sensitive() bool {
	return t == Checkout || t == PaymentMethodChange || t == ProfileChange
}

// MFAPreference is when a user (or the customer on its behalf) wants a second factor.
type MFAPreference uint8

// MFA preferences. The zero value means the request did not say; the stored preference or Adaptive applies.
const (
	MFAUnset     MFAPreference = iota
	MFAAdaptive                // step up when the risk says so
	MFASensitive               // also step up every sensitive transaction
	MFAAlways                  // step up every event that is not denied
	numMFAPreferences
)

var mfaNames = [numMFAPreferences]string{MFAUnset: "", MFAAdaptive: "adaptive", MFASensitive: "sensitive", MFAAlways: "always"}

// String returns the API name of p ("" when unset).
func (p MFAPreference) String() string {
	if p >= numMFAPreferences {
		return ""
	}
	return mfaNames[p]
}

// ParseMFAPreference returns the preference named s.
func ParseMFAPreference(s string) (MFAPreference, bool) {
	for p := MFAAdaptive; p < numMFAPreferences; p++ {
		if mfaNames[p] == s {
			return p, true
		}
	}
	return 0, false
}

// Channels a request may name.
var channels = [...]string{"web", "mobile", "store", "call_center", "api"}

// ValidChannel reports whether s is a channel the API knows.
func ValidChannel(s string) bool {
	for _, c := range channels {
		if c == s {
			return true
		}
	}
	return false
}

// MaxAttributes bounds the attributes an event may carry.
const MaxAttributes = 16

// Attribute is one client-supplied key/value pair.
type Attribute struct{ Key, Value string }

// Event is one decision request. Strings may alias the request buffer and are valid only during the call.
type Event struct {
	Type             EventType
	UserID           string
	IP               netip.Addr
	UserAgent        string
	DeviceID         string
	SessionID        string
	Tenant           string
	Channel          string
	Time             int64     // event time, unix nanoseconds; set by the caller (the request's timestamp, else now)
	Received         time.Time // when the request arrived; zero = the engine reads the clock
	Amount           float64   // as given, in Currency
	HasAmount        bool
	Currency         string
	Reporting        float64 // Amount in the reporting currency; set by Extractor.Convert
	MFAPreference    MFAPreference
	CredentialsValid bool
	HasCredentials   bool // credentials_valid was given
	EventID          string
	Attributes       [MaxAttributes]Attribute
	NumAttributes    int
}

// Reset clears e for reuse.
func (e *Event) Reset() { *e = Event{} }

// OutcomeType is the kind of feedback an outcome carries.
type OutcomeType uint8

// Outcome types, as named in the API.
const (
	LoginSucceeded OutcomeType = iota + 1
	LoginFailed
	MFAPassed
	MFAFailed
	PasswordChanged
	FraudConfirmed
	LegitConfirmed
	PaymentDeclined   // the payment of a checkout was declined: counted per device, address, network and user
	CheckoutCompleted // a purchase was paid: teaches the spend profile (amount and currency required)
	Chargeback        // a payment was disputed as fraud: labels the evaluation fraud, forgets the device
	numOutcomeTypes
)

// NumOutcomeTypes is one past the last outcome type, to size tables indexed by type.
const NumOutcomeTypes = numOutcomeTypes

var outcomeNames = [numOutcomeTypes]string{
	LoginSucceeded:    "login_succeeded",
	LoginFailed:       "login_failed",
	MFAPassed:         "mfa_passed",
	MFAFailed:         "mfa_failed",
	PasswordChanged:   "password_changed",
	FraudConfirmed:    "fraud_confirmed",
	LegitConfirmed:    "legit_confirmed",
	CheckoutCompleted: "checkout_completed",
	Chargeback:        "chargeback",
	PaymentDeclined:   "payment_declined",
}

// String returns the API name of t.
func (t OutcomeType) String() string {
	if t == 0 || t >= numOutcomeTypes {
		return ""
	}
	return outcomeNames[t]
}

// ParseOutcomeType returns the outcome type named s.
func ParseOutcomeType(s string) (OutcomeType, bool) {
	for t := LoginSucceeded; t < numOutcomeTypes; t++ {
		if outcomeNames[t] == s {
			return t, true
		}
	}
	return 0, false
}

// Outcome is feedback about an earlier event. Strings may alias the request buffer.
type Outcome struct {
	Type         OutcomeType
	UserID       string
	IP           netip.Addr // may be invalid (not given)
	DeviceID     string
	UserAgent    string
	Tenant       string
	EvaluationID string
	Time         int64 // unix nanoseconds
	// checkout_completed: the amount paid, as given in Currency, and in the reporting currency (Extractor.Convert).
	Amount, Reporting float64
	HasAmount         bool
	Currency          string
	// Scoped is set when a key restricted to tenants reported the outcome: the trust a passed MFA teaches then
	// holds for Tenant only, and a failure counts only once for the evaluation it names (engine.Engine.Record).
	Scoped bool
}
