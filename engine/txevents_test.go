package engine_test

import (
	"net/netip"
	"time"

	"github.com/riskd/riskd/features"
)

func checkoutEvent(user, ip, device string, amount float64, at time.Time) *features.Event {
	return &features.Event{Type: features.Checkout, UserID: user, IP: netip.MustParseAddr(ip), DeviceID: device,
		Tenant: "default", Time: at.UnixNano(), Amount: amount, HasAmount: true, Currency: "EUR"}
}

func registrationEvent(user, ip, device string, at time.Time) *features.Event {
	return &features.Event{Type: features.Registration, UserID: user, IP: netip.MustParseAddr(ip), DeviceID: device,
		Tenant: "default", Time: at.UnixNano()}
}
