//go:build !race

package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestCheckoutHandlerAllocations: a checkout with an amount in another currency than the reporting one and the
// conventional attributes (validated, read by attr() in the built-in rules) allocates nothing either.
func TestCheckoutHandlerAllocations(t *testing.T) {
	ts := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	body := fmt.Sprintf(`{"type":"checkout","user_id":"kim","ip":"216.160.83.56","device_id":"kim-laptop",`+
		`"user_agent":"Mozilla/5.0","channel":"web","timestamp":%q,"amount":129.95,"currency":"USD",`+
		`"attributes":{"email_domain":"example.com","shipping_country":"SE","billing_country":"SE",`+
		`"payment_fingerprint":"fp_9f2c1a7b","card_bin":"411111"}}`, ts)
	checkDecideAllocations(t, newTestServer(t), body, "", fasthttp.StatusOK)
}

// TestUnknownCurrencyAllocations: a rates table that lacks a currency a shop sends must not make every such
// request allocate its error.
func TestUnknownCurrencyAllocations(t *testing.T) {
	body := `{"type":"checkout","user_id":"kim","ip":"216.160.83.56","amount":10,"currency":"XXX"}`
	checkDecideAllocations(t, newTestServer(t), body, "", fasthttp.StatusBadRequest)
}
