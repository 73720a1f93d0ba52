package main

// class labels an event with what it really is; riskd never sees it.
type class uint8

const (
	// Legitimate users, by situation: a user's logins carry the class of the situation they were made in, so a
	// traveller's logins at home count as habitual and only the ones around a trip as travel.
	habitual       class = iota // known devices, home city and ISP (whose address changes now and then), usual hours
	travel                      // abroad on a trip (flights of plausible speed), and the first login back
	tripInCountry               // on a trip to another city of the home country, and the first login back
	awayFromHome                // on the phone, on the network of a café, a friend or a library in the home city
	clearedCookies              // a known browser that lost its device id (cookies cleared, a private window)
	familyDevice                // a device shared by the members of a household
	mobileCarrier               // a phone on a mobile carrier: a new address in the carrier's ASN each time
	newPhone                    // a phone bought during the measured period, from the usual places
	mistypedRetry               // the right password, seconds after a wrong one
	mistyped                    // the wrong password itself

	// Attacks.
	stuffingFewIPs   // a combo list tried from three hosting addresses
	stuffingPool     // a combo list spread over a pool of proxies and infected home machines
	stuffingValid    // a stuffing attempt whose credentials were right: an account takeover
	spraying         // two common passwords tried slowly on many accounts
	atoForeign       // valid credentials from another country, a new device and ASN
	atoDomestic      // valid credentials from the victim's country, but a new device and ASN
	impossibleTravel // valid credentials minutes after the victim's own login, from another continent
	torLogin         // valid credentials through a Tor exit
	vpnLogin         // through an anonymous VPN
	proxyLogin       // through a public or residential proxy
	hostingLogin     // from a hosting provider's network
	knownBad         // valid credentials from an address of the known-bad list

	// Registrations and card testing (registration.go): their own goals, not the logins'.
	campaignSignup   // a genuine registration on a campaign day, from a home or a mobile network
	campaignPurchase // a campaign account's first purchase
	cardTestSignup   // a card tester registering the accounts it tests cards with (informational)
	cardTesting      // a card tester's small checkout with a stolen card, from a freshly registered account
	farmFirst20      // one of an account farm's first 20 registrations (informational)
	fakeRegistration // an account farm's registration from its 21st on, behind residential proxies
	// Checkouts (checkout.go), with goals of their own.
	checkoutEveryday // a purchase in the session of an everyday login, around the customer's usual amount
	checkoutLarge    // an occasional purchase many times the customer's usual amount (friction acceptable)
	newCard          // a card added on the customer's own device, then a purchase
	addressChange    // an address, e-mail or phone changed on the customer's own device, then a purchase
	takeoverPrelude  // an attacker's password reset, login or payment-method change before the purchase
	cashOut          // account takeover: new device, payment-method change, large checkout
	resetTakeover    // password reset from the attacker's device (the mailbox taken), login, checkout
	hijack           // the victim's device id replayed from another network, straight to checkout
	numClasses
)

// classInfo describes a class for the report.
type classInfo struct {
	name  string
	legit bool
	// goal: the class counts towards its kind's goals (legitimate logins or takeovers). Legitimate wrong
	// passwords fail whatever riskd says, and attacks with wrong passwords are stopped by the password.
	goal bool
	// takeover: valid credentials in an attacker's hands; only a step-up or a deny stops it.
	takeover bool
}

var classes = [numClasses]classInfo{
	habitual:         {"habitual", true, true, false},
	travel:           {"traveller_abroad", true, true, false},
	tripInCountry:    {"trip_in_country", true, true, false},
	awayFromHome:     {"away_from_home", true, true, false},
	clearedCookies:   {"cleared_cookies", true, true, false},
	familyDevice:     {"family_shared_device", true, true, false},
	mobileCarrier:    {"mobile_carrier", true, true, false},
	newPhone:         {"new_phone", true, true, false},
	mistypedRetry:    {"mistyped_then_right", true, true, false},
	mistyped:         {"mistyped_password", true, false, false},
	stuffingFewIPs:   {"stuffing_few_ips", false, false, false},
	stuffingPool:     {"stuffing_proxy_pool", false, false, false},
	stuffingValid:    {"stuffing_valid_creds", false, true, true},
	spraying:         {"password_spraying", false, false, false},
	atoForeign:       {"ato_new_country", false, true, true},
	atoDomestic:      {"ato_same_country", false, true, true},
	impossibleTravel: {"impossible_travel", false, true, true},
	torLogin:         {"tor", false, true, true},
	vpnLogin:         {"vpn", false, true, true},
	proxyLogin:       {"proxy", false, true, true},
	hostingLogin:     {"hosting", false, true, true},
	knownBad:         {"known_bad_ip", false, true, true},
	campaignSignup:   {"campaign_registration", true, false, false},
	campaignPurchase: {"campaign_1st_purchase", true, false, false},
	cardTestSignup:   {"card_test_registration", false, false, false},
	cardTesting:      {"card_testing", false, false, false},
	farmFirst20:      {"farm_first_20", false, false, false},
	fakeRegistration: {"fake_registration", false, false, false},

	checkoutEveryday: {"checkout_everyday", true, true, false},
	checkoutLarge:    {"checkout_large", true, false, false},
	newCard:          {"new_card_then_checkout", true, true, false},
	addressChange:    {"address_change_then_checkout", true, true, false},
	takeoverPrelude:  {"takeover_prelude", false, false, false},
	cashOut:          {"ato_cash_out", false, true, true},
	resetTakeover:    {"reset_takeover_checkout", false, true, true},
	hijack:           {"session_hijack_checkout", false, true, true},
}

func (c class) String() string { return classes[c].name }

// kind is how the report names a class's side.
func (c class) kind() string {
	if classes[c].legit {
		return "legit"
	}
	return "attack"
}
