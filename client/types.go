package client

import (
	"encoding/json"
	"time"
)

// EventType is the kind of event a decision is asked for.
type EventType string

// Event types (api/openapi.yaml EventType).
const (
	Login               EventType = "login"
	Registration        EventType = "registration"
	PasswordReset       EventType = "password_reset"
	Checkout            EventType = "checkout"
	PaymentMethodChange EventType = "payment_method_change"
	ProfileChange       EventType = "profile_change"
)

// EventTypes lists every event type riskd decides on.
func EventTypes() []EventType {
	return []EventType{Login, Registration, PasswordReset, Checkout, PaymentMethodChange, ProfileChange}
}

// Action is riskd's answer.
type Action string

// Actions.
const (
	Allow  Action = "allow"
	StepUp Action = "step_up"
	Deny   Action = "deny"
)

func (a Action) valid() bool { return a == Allow || a == StepUp || a == Deny }

// OutcomeType is what happened after a decision, reported to teach riskd.
type OutcomeType string

// Outcome types (api/openapi.yaml OutcomeType).
const (
	LoginSucceeded  OutcomeType = "login_succeeded"
	LoginFailed     OutcomeType = "login_failed"
	MFAPassed       OutcomeType = "mfa_passed"
	MFAFailed       OutcomeType = "mfa_failed"
	PasswordChanged OutcomeType = "password_changed"
	FraudConfirmed  OutcomeType = "fraud_confirmed"
	LegitConfirmed  OutcomeType = "legit_confirmed"
	PaymentDeclined OutcomeType = "payment_declined"
	// CheckoutCompleted teaches the customer's spend profile: it carries Amount and Currency.
	CheckoutCompleted OutcomeType = "checkout_completed"
	Chargeback        OutcomeType = "chargeback"
)

// MFAPreference is a user's wish for second factors.
type MFAPreference string

// MFA preferences.
const (
	MFAAlways    MFAPreference = "always"
	MFASensitive MFAPreference = "sensitive"
	MFAAdaptive  MFAPreference = "adaptive"
)

// DecideRequest is the body of POST /v1/decide. Type and IP are required, UserID too except for registrations.
type DecideRequest struct {
	Type             EventType         `json:"type"`
	UserID           string            `json:"user_id,omitempty"`
	IP               string            `json:"ip"`
	UserAgent        string            `json:"user_agent,omitempty"`
	DeviceID         string            `json:"device_id,omitempty"`
	SessionID        string            `json:"session_id,omitempty"`
	EventID          string            `json:"event_id,omitempty"`
	Tenant           string            `json:"tenant,omitempty"`
	Channel          string            `json:"channel,omitempty"` // web, mobile, store, call_center, api
	Timestamp        time.Time         `json:"timestamp,omitzero"`
	Amount           *float64          `json:"amount,omitempty"`
	Currency         string            `json:"currency,omitempty"`
	MFAPreference    MFAPreference     `json:"mfa_preference,omitempty"`
	CredentialsValid *bool             `json:"credentials_valid,omitempty"`
	Attributes       map[string]string `json:"attributes,omitempty"`
}

// Decision is riskd's answer, or the fail policy's when riskd could not give one (Fallback).
type Decision struct {
	Decision     Action   `json:"decision"`
	Score        int      `json:"score"`
	Reasons      []Reason `json:"reasons"`
	EvaluationID string   `json:"evaluation_id"`
	RulesVersion string   `json:"rules_version"`
	TookUs       int64    `json:"took_us"`

	// Fallback is true when the fail policy decided, here (riskd unreachable, slow or failing) or in riskd
	// (overloaded, with --shed fallback); the reasons then hold one reason with the code fail_policy.
	Fallback bool `json:"-"`
	// Cause is why the client fell back (nil when riskd answered, its own fallback included): for logs and
	// metrics, never for the decision.
	Cause error `json:"-"`
}

// Reason is one contribution to a decision.
type Reason struct {
	Code    string `json:"code"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
	Score   int    `json:"score"`
}

// CodeFailPolicy is the reason code of a decision the fail policy took.
const CodeFailPolicy = "fail_policy"

// Outcome is the body of POST /v1/events. Type and UserID are required.
type Outcome struct {
	Type         OutcomeType `json:"type"`
	UserID       string      `json:"user_id"`
	IP           string      `json:"ip,omitempty"`
	DeviceID     string      `json:"device_id,omitempty"`
	UserAgent    string      `json:"user_agent,omitempty"`
	Tenant       string      `json:"tenant,omitempty"`
	EvaluationID string      `json:"evaluation_id,omitempty"` // the decision's, so the outcome teaches only what it has not yet
	Timestamp    time.Time   `json:"timestamp,omitzero"`
	// Amount and Currency: what a checkout_completed outcome was paid (both required there, refused elsewhere).
	Amount   *float64 `json:"amount,omitempty"`
	Currency string   `json:"currency,omitempty"`
}

// UserExport is everything riskd holds about a user (GET /v1/users/{id}). Identifiers are keyed hashes. The
// parts an integrator rarely reads (behaviour history, recent activity) are kept as raw JSON, so that the client
// does not break when riskd learns a new habit.
type UserExport struct {
	UserID           string            `json:"user_id"`
	FirstSeen        string            `json:"first_seen,omitempty"`
	SuccessfulLogins int               `json:"successful_logins"`
	MFAPreference    MFAPreference     `json:"mfa_preference,omitempty"`
	Devices          []ExportedDevice  `json:"devices"`
	Countries        []ExportedCountry `json:"countries"`
	LastLogin        *ExportedPlace    `json:"last_login,omitempty"`
	History          json.RawMessage   `json:"history"`
	Velocity         map[string]Counts `json:"velocity"` // attempts, failures, successes
	RecentActivity   json.RawMessage   `json:"recent_activity"`
}

// ExportedDevice is a device riskd knows for the user, by the keyed hash of its id.
type ExportedDevice struct {
	DeviceKey    string `json:"device_key"`
	FirstSeen    string `json:"first_seen"`
	LastSeen     string `json:"last_seen"`
	TrustedSince string `json:"trusted_since,omitempty"`
}

// ExportedCountry is a country the user logged in from.
type ExportedCountry struct {
	Country  string `json:"country"`
	LastSeen string `json:"last_seen"`
	Logins   int    `json:"logins"`
}

// ExportedPlace is where and when the user last logged in.
type ExportedPlace struct {
	Time          string  `json:"time"`
	Country       string  `json:"country,omitempty"`
	CityGeonameID uint32  `json:"city_geoname_id,omitempty"`
	Lat           float64 `json:"lat,omitempty"`
	Lon           float64 `json:"lon,omitempty"`
	AccuracyKm    int     `json:"accuracy_km,omitempty"`
	ASN           uint32  `json:"asn,omitempty"`
}

// Counts are a velocity counter's sliding windows.
type Counts struct {
	M1  int `json:"1m"`
	M10 int `json:"10m"`
	H1  int `json:"1h"`
	H24 int `json:"24h"`
}

// Thresholds are the scores from which an event steps up or is denied.
type Thresholds struct {
	StepUp int `json:"step_up"`
	Deny   int `json:"deny"`
}

// RuleSet is the live rule set (GET /v1/rules).
type RuleSet struct {
	Version    string `json:"version"`
	Source     string `json:"source"`
	Shadow     string `json:"shadow,omitempty"`
	Thresholds struct {
		Thresholds
		Events map[EventType]Thresholds `json:"events,omitempty"`
	} `json:"thresholds"`
	Rules    []Rule                   `json:"rules"`
	Tenants  map[string]TenantOverlay `json:"tenants,omitempty"`
	Tests    int                      `json:"tests"`
	Warnings []string                 `json:"warnings,omitempty"`
}

// Rule is one compiled rule as riskd shows it.
type Rule struct {
	ID          string      `json:"id"`
	Description string      `json:"description,omitempty"`
	When        string      `json:"when"`
	Score       int         `json:"score,omitempty"`
	Action      Action      `json:"action,omitempty"`
	Code        string      `json:"code"`
	Mode        string      `json:"mode"` // enforce or shadow
	Events      []EventType `json:"events,omitempty"`
	Tenant      string      `json:"tenant,omitempty"`
	Expires     string      `json:"expires,omitempty"`
	Expired     bool        `json:"expired,omitempty"`
}

// TenantOverlay is a tenant's view of the set.
type TenantOverlay struct {
	Disable    []string                 `json:"disable,omitempty"`
	Rules      []string                 `json:"rules,omitempty"`
	Thresholds map[EventType]Thresholds `json:"thresholds"`
}

// RulesValidation is the answer to a rule file that compiles and passes its tests.
type RulesValidation struct {
	Valid   bool   `json:"valid"`
	Version string `json:"version"`
	Rules   int    `json:"rules"`
	Tests   struct {
		Passed int `json:"passed"`
		Failed int `json:"failed"`
	} `json:"tests"`
	Warnings []string `json:"warnings"`
}

// RulesReplaced is the answer to a rule set swapped in.
type RulesReplaced struct {
	Version  string `json:"version"`
	Previous string `json:"previous"`
	Rules    int    `json:"rules"`
	Tests    int    `json:"tests"` // tests passed
}
