package signals

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/riskd/riskd/rules"
)

// Event types riskd transmits.
const (
	EventRiskLevelChange      = "https://schemas.openid.net/secevent/caep/event-type/risk-level-change"
	EventSessionRevoked       = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	EventCredentialCompromise = "https://schemas.openid.net/secevent/risc/event-type/credential-compromise"
	// EventOktaUserRiskChange is Okta's shape of a risk-level change (okta.go).
	EventOktaUserRiskChange = "https://schemas.okta.com/secevent/okta/event-type/user-risk-change"
	// EventVerification answers a receiver's verification request; every stream gets it, requested or not.
	EventVerification = "https://schemas.openid.net/secevent/ssf/event-type/verification"
)

// SupportedEvents are the event types a stream may request.
var SupportedEvents = []string{EventRiskLevelChange, EventSessionRevoked, EventCredentialCompromise, EventOktaUserRiskChange}

func supported(t string) bool {
	for _, s := range SupportedEvents {
		if s == t {
			return true
		}
	}
	return false
}

// Delivery method URNs (SSF 1.0).
const (
	DeliveryPush = "urn:ietf:rfc:8935"
	DeliveryPoll = "urn:ietf:rfc:8936"
)

// event is one event about a subject, before it is signed for a stream. It holds what its claims are made of,
// not the claims: the worker assesses every signal-worthy decision, and under an attack most of the events it
// makes go to no stream, so the claims are built (claims) only for a stream that wants the event.
type event struct {
	typ     string
	subject string // the user id as the caller sent it; for verification, the stream id
	time    time.Time
	// A risk-level change's levels and reason.
	cur, prev rules.RiskLevel
	reason    string
	// A verification's state, echoed back to the receiver ("" = none).
	state string
}

// claims are the event's claims in a SET, in the shape of its type.
func (t *Transmitter) claims(ev *event) map[string]any {
	ts := ev.time.Unix()
	switch ev.typ {
	case EventRiskLevelChange:
		return map[string]any{"principal": "USER", "current_level": ev.cur.String(), "previous_level": ev.prev.String(),
			"risk_reason": ev.reason, "event_timestamp": ts}
	case EventOktaUserRiskChange:
		return map[string]any{"subject": map[string]any{"user": t.oktaSubject(ev.subject)},
			"current_level": strings.ToLower(ev.cur.String()), "previous_level": strings.ToLower(ev.prev.String()),
			"event_timestamp": ts, "initiating_entity": "policy", "reason_admin": map[string]string{"en": ev.reason}}
	case EventCredentialCompromise:
		return map[string]any{"credential_type": "password", "event_timestamp": ts,
			"reason_admin": map[string]string{"en": "A login with valid credentials was part of a credential-stuffing wave."}}
	case EventSessionRevoked:
		return map[string]any{"event_timestamp": ts, "initiating_entity": "policy",
			"reason_admin": map[string]string{"en": "Fraud was confirmed on the account."}}
	case EventVerification:
		if ev.state != "" {
			return map[string]any{"state": ev.state}
		}
	}
	return map[string]any{}
}

// setClaims is a Security Event Token's payload (RFC 8417, SSF 1.0: sub_id at the top).
type setClaims struct {
	Iss    string                    `json:"iss"`
	Aud    string                    `json:"aud"`
	Iat    int64                     `json:"iat"`
	Jti    string                    `json:"jti"`
	SubID  map[string]string         `json:"sub_id,omitempty"` // left out in the Okta profile
	Events map[string]map[string]any `json:"events"`
}

// signer signs SETs with one key, typ secevent+jwt and the key's kid.
type signer struct {
	s jose.Signer
}

func newSigner(k *Key) (*signer, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: jose.JSONWebKey{Key: k.Signer, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType("secevent+jwt"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return &signer{s: s}, nil
}

// sign returns the compact serialisation of the SET of an event of type typ with claims for audience aud, and
// its jti.
func (s *signer) sign(iss, aud string, subID map[string]string, typ string, claims map[string]any, now time.Time) (token, jti string, err error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", "", err
	}
	jti = hex.EncodeToString(id[:])
	c := setClaims{Iss: iss, Aud: aud, Iat: now.Unix(), Jti: jti, SubID: subID, Events: map[string]map[string]any{typ: claims}}
	payload, err := json.Marshal(&c)
	if err != nil {
		return "", "", err
	}
	obj, err := s.s.Sign(payload)
	if err != nil {
		return "", "", err
	}
	token, err = obj.CompactSerialize()
	return token, jti, err
}
