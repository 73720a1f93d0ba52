package server

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
)

// TestReasonJSONEncodesAsTheFields: a decision whose rule reasons carry their pre-encoded JSON (engine.Reason.JSON)
// is written byte for byte as when each field is escaped on its own, static and templated messages alike.
func TestReasonJSONEncodesAsTheFields(t *testing.T) {
	s := newTestServer(t)
	var d engine.Decision
	ts := time.Now().Add(-time.Hour).UnixNano()
	withJSON, templated := 0, 0
	for i := range 300 { // many accounts from one address: the velocity rules fire, with their feature values
		ev := features.Event{Type: features.Login, UserID: fmt.Sprintf("user-%d", i), Tenant: defaultTenant,
			DeviceID: fmt.Sprintf("dev-%d", i), Time: ts, IP: netip.MustParseAddr("89.160.20.112"), CredentialsValid: true, HasCredentials: true}
		if err := s.engine.Decide(&ev, &d); err != nil {
			t.Fatal(err)
		}
		got, _ := appendDecision(nil, &d, 7, nil)
		for j := range d.Reasons {
			if d.Reasons[j].JSON != nil {
				withJSON++
				if d.Reasons[j].Template != nil {
					templated++
				}
			}
			d.Reasons[j].JSON = nil
		}
		if want, _ := appendDecision(nil, &d, 7, nil); string(got) != string(want) {
			t.Fatalf("with the reasons' JSON:\n%s\nfield by field:\n%s", got, want)
		}
	}
	if withJSON == 0 || templated == 0 {
		t.Fatalf("%d reasons with JSON, %d of them templated: the test saw too little", withJSON, templated)
	}
}
