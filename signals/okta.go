package signals

import "strings"

// ProfileOkta is the stream profile for Okta's SSF receiver (Identity Threat Protection's "security events
// providers"). Okta ingests pushed SETs at https://{your Okta domain}/security/api/v1/security-events,
// authenticating them by their signature against the issuer's JWKS, so the stream needs no token. It takes
// risk-level changes in its own event type, EventOktaUserRiskChange, with the subject inside the event
// ({"user": {"format": "email", "email": ...}}) rather than a top-level sub_id, and lowercase levels.
const ProfileOkta = "okta"

// oktaSubject names a user as Okta matches users: by e-mail (its login) when the id is one, else as the
// iss_sub or opaque subject of the other streams.
func (t *Transmitter) oktaSubject(user string) map[string]string {
	if strings.Contains(user, "@") {
		return map[string]string{"format": "email", "email": user}
	}
	return t.subID(user)
}
