//go:build !race

package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestDecideTransactionAllocations guards the request path of the events read and counted twice, under their
// own keys and under their scope's (features/txvelocity.go): a checkout with attributes and a registration
// allocate nothing either.
func TestDecideTransactionAllocations(t *testing.T) {
	ts := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	s := newTestServer(t)
	checkout := fmt.Sprintf(`{"type":"checkout","user_id":"kim","ip":"216.160.83.56","device_id":"kim-laptop",`+
		`"user_agent":"Mozilla/5.0","tenant":"brand-a","channel":"web","timestamp":%q,"amount":4.5,"currency":"EUR",`+
		`"attributes":{"email_domain":"example.com","card_fingerprint":"f00d"}}`, ts)
	checkDecideAllocations(t, s, checkout, "", fasthttp.StatusOK)
	registration := fmt.Sprintf(`{"type":"registration","user_id":"new-kim","ip":"89.160.20.112","device_id":"kim-phone",`+
		`"user_agent":"Mozilla/5.0","tenant":"brand-a","channel":"mobile","timestamp":%q,"attributes":{"email_domain":"example.com"}}`, ts)
	checkDecideAllocations(t, s, registration, "", fasthttp.StatusOK)
}
