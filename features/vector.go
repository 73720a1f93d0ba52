package features

import "reflect"

// Vector is every signal of one event, as rules see it. It is a flat value struct (no maps, no pointers) so
// that rules read fields without allocating and a Vector can be copied, logged and replayed as a value.
// The `expr` tag is the name a rule uses; `doc` is its one-line description in the feature reference.
type Vector struct {
	// The event.
	Event            string  `expr:"event" doc:"event type: login, registration, password_reset, checkout, payment_method_change, profile_change"`
	Tenant           string  `expr:"tenant" doc:"tenant (brand) the event belongs to"`
	Channel          string  `expr:"channel" doc:"web, mobile, store, call_center, api or empty"`
	Amount           float64 `expr:"amount" doc:"transaction amount in the reporting currency (the rates table's base, EUR by default), 0 when not given"`
	Currency         string  `expr:"currency" doc:"ISO 4217 currency the request gave the amount in"`
	MFAPreference    string  `expr:"mfa_preference" doc:"effective MFA preference: adaptive, sensitive or always"`
	Sensitive        bool    `expr:"sensitive" doc:"the event is a sensitive transaction (checkout, payment_method_change, profile_change)"`
	CredentialsKnown bool    `expr:"credentials_known" doc:"the request said whether the credentials were valid"`
	CredentialsValid bool    `expr:"credentials_valid" doc:"the credentials were valid (false when not known)"`
	HasDevice        bool    `expr:"has_device" doc:"the request carried a device_id"`
	HasUserAgent     bool    `expr:"has_user_agent" doc:"the request carried a user_agent"`
	Hour             int     `expr:"hour" doc:"hour of day of the event, UTC (0-23)"`

	// Money and the customer's spending; sensitive sequences.
	AmountGiven            float64 `expr:"amount_given" doc:"the amount as the request gave it, in currency"`
	Purchases              int     `expr:"purchases" doc:"completed purchases learned for this user (checkout_completed), within the retention"`
	FirstPurchase          bool    `expr:"first_purchase" doc:"the event carries an amount and riskd has learned no purchase of this user"`
	TypicalAmount          float64 `expr:"typical_amount" doc:"the user's typical purchase: the geometric mean of the purchases learned, reporting currency (0 without any)"`
	LargestAmount          float64 `expr:"largest_amount" doc:"the largest purchase learned for this user, reporting currency (0 without any)"`
	AmountRatio            float64 `expr:"amount_ratio" doc:"amount / typical_amount (0 without an amount or a purchase learned)"`
	AmountZ                float64 `expr:"amount_z" doc:"how unusual the amount is for this user: (ln amount - mean ln) / spread, the spread of the log-amounts taken as at least 0.5; 0 with fewer than 3 purchases learned"`
	AboveLargest           bool    `expr:"above_largest" doc:"the amount is above every purchase learned for this user (false without any)"`
	SincePasswordResetM    float64 `expr:"since_password_reset_m" doc:"minutes since the user's last password reset (password_reset decision not denied, or password_changed outcome); -1 when none"`
	SincePaymentChangeM    float64 `expr:"since_payment_change_m" doc:"minutes since the user's last payment-method change (payment_method_change decision not denied); -1 when none"`
	SinceProfileChangeM    float64 `expr:"since_profile_change_m" doc:"minutes since the user's last profile change (e-mail, phone, address: profile_change decision not denied); -1 when none"`
	PasswordResetNewDevice bool    `expr:"password_reset_new_device" doc:"the last password reset came from a device new to the user (not in the profile, or first seen by it less than a day before) or without device_id"`
	PaymentChangeNewDevice bool    `expr:"payment_change_new_device" doc:"the last payment-method change came from a device new to the user (as password_reset_new_device)"`
	ProfileChangeNewDevice bool    `expr:"profile_change_new_device" doc:"the last profile change came from a device new to the user (as password_reset_new_device)"`
	PaymentChangeDevice    bool    `expr:"payment_change_device" doc:"this event comes from the device that made the last payment-method change"`
	LoginASNChanged        bool    `expr:"asn_changed_since_login" doc:"the last successful login came from another autonomous system than this event (false when either is unknown)"`
	Attr0                  string  `expr:"attr_0" doc:"the value of the first attribute name the rule set reads with attr(\"name\") (empty when the event does not carry it); rules write attr(\"name\")"`
	Attr1                  string  `expr:"attr_1" doc:"as attr_0, the second name"`
	Attr2                  string  `expr:"attr_2" doc:"as attr_0, the third name"`
	Attr3                  string  `expr:"attr_3" doc:"as attr_0, the fourth name"`
	Attr4                  string  `expr:"attr_4" doc:"as attr_0, the fifth name"`
	Attr5                  string  `expr:"attr_5" doc:"as attr_0, the sixth name"`
	Attr6                  string  `expr:"attr_6" doc:"as attr_0, the seventh name"`
	Attr7                  string  `expr:"attr_7" doc:"as attr_0, the eighth name"`
	AttrListMask           int     `expr:"attr_list_mask" doc:"the (list, attribute) pairs the rule set names with in_list(\"list\", attr(\"name\")) that hold for the event, one bit each"`

	// What the user agent says (ua-parser's uap-core regexes; empty or zero without a user_agent).
	UABrowser      string `expr:"ua_browser" doc:"browser or client family, e.g. Chrome, Mobile Safari, curl, Other"`
	UABrowserMajor int    `expr:"ua_browser_major" doc:"major version of ua_browser, 0 when unknown"`
	UAOS           string `expr:"ua_os" doc:"operating system family, e.g. Windows, iOS, Android, Other"`
	UADeviceClass  string `expr:"ua_device_class" doc:"desktop, mobile, tablet, bot or unknown"`
	UAIsBot        bool   `expr:"ua_is_bot" doc:"a crawler, a headless or driven browser (HeadlessChrome, PhantomJS, Selenium), an HTTP library's default user agent (curl, python-requests, Go-http-client, okhttp …), or a user agent no browser or app sends (shorter than 8 bytes, Mozilla/5.0 with no platform, no product/version at all); decided on first sight, before the full parse"`

	// Where the IP address is.
	GeoKnown           bool    `expr:"geo_known" doc:"the city database located the IP address"`
	Country            string  `expr:"country" doc:"ISO 3166-1 alpha-2 country of the IP address, empty when unknown"`
	Region             string  `expr:"region" doc:"ISO 3166-2 subdivision code, empty when unknown"`
	City               string  `expr:"city" doc:"city name (English), empty when unknown"`
	Lat                float64 `expr:"lat" doc:"latitude of the IP address"`
	Lon                float64 `expr:"lon" doc:"longitude of the IP address"`
	AccuracyKm         int     `expr:"accuracy_km" doc:"accuracy radius of the location, km"`
	ASN                int     `expr:"asn" doc:"autonomous system number, 0 when unknown"`
	ASOrg              string  `expr:"as_org" doc:"autonomous system organisation"`
	IsAnonymous        bool    `expr:"is_anonymous" doc:"the address belongs to any anonymising network"`
	IsVPN              bool    `expr:"is_vpn" doc:"anonymous VPN"`
	IsTor              bool    `expr:"is_tor" doc:"Tor exit node"`
	IsHosting          bool    `expr:"is_hosting" doc:"hosting or cloud provider"`
	IsPublicProxy      bool    `expr:"is_public_proxy" doc:"public proxy"`
	IsResidentialProxy bool    `expr:"is_residential_proxy" doc:"residential proxy"`

	// Velocity: events counted in sliding windows, by event time, before this event.
	UserAttempts1m    int `expr:"user_attempts_1m" doc:"decisions asked for this user in the last minute"`
	UserAttempts10m   int `expr:"user_attempts_10m" doc:"decisions asked for this user in the last 10 minutes"`
	UserAttempts1h    int `expr:"user_attempts_1h" doc:"decisions asked for this user in the last hour"`
	UserAttempts24h   int `expr:"user_attempts_24h" doc:"decisions asked for this user in the last 24 hours"`
	UserFailures1m    int `expr:"user_failures_1m" doc:"failed logins of this user in the last minute"`
	UserFailures10m   int `expr:"user_failures_10m" doc:"failed logins of this user in the last 10 minutes"`
	UserFailures1h    int `expr:"user_failures_1h" doc:"failed logins of this user in the last hour"`
	UserFailures24h   int `expr:"user_failures_24h" doc:"failed logins of this user in the last 24 hours"`
	IPAttempts1m      int `expr:"ip_attempts_1m" doc:"decisions asked from this IP address in the last minute"`
	IPAttempts10m     int `expr:"ip_attempts_10m" doc:"decisions asked from this IP address in the last 10 minutes"`
	IPAttempts1h      int `expr:"ip_attempts_1h" doc:"decisions asked from this IP address in the last hour"`
	IPAttempts24h     int `expr:"ip_attempts_24h" doc:"decisions asked from this IP address in the last 24 hours"`
	IPFailures1m      int `expr:"ip_failures_1m" doc:"failed logins from this IP address in the last minute"`
	IPFailures10m     int `expr:"ip_failures_10m" doc:"failed logins from this IP address in the last 10 minutes"`
	IPFailures1h      int `expr:"ip_failures_1h" doc:"failed logins from this IP address in the last hour"`
	IPFailures24h     int `expr:"ip_failures_24h" doc:"failed logins from this IP address in the last 24 hours"`
	DeviceAttempts1m  int `expr:"device_attempts_1m" doc:"decisions asked from this device in the last minute"`
	DeviceAttempts1h  int `expr:"device_attempts_1h" doc:"decisions asked from this device in the last hour"`
	DeviceFailures1m  int `expr:"device_failures_1m" doc:"failed logins from this device in the last minute"`
	DeviceFailures1h  int `expr:"device_failures_1h" doc:"failed logins from this device in the last hour"`
	SubnetAttempts1m  int `expr:"subnet_attempts_1m" doc:"decisions asked from this address's network (its /24 for IPv4, /64 for IPv6) in the last minute"`
	SubnetAttempts10m int `expr:"subnet_attempts_10m" doc:"decisions asked from this address's network in the last 10 minutes"`
	SubnetAttempts1h  int `expr:"subnet_attempts_1h" doc:"decisions asked from this address's network in the last hour"`
	SubnetFailures1m  int `expr:"subnet_failures_1m" doc:"failed logins from this address's network in the last minute"`
	SubnetFailures10m int `expr:"subnet_failures_10m" doc:"failed logins from this address's network in the last 10 minutes"`
	SubnetFailures1h  int `expr:"subnet_failures_1h" doc:"failed logins from this address's network in the last hour"`
	ASNAttempts1m     int `expr:"asn_attempts_1m" doc:"decisions asked from this address's autonomous system in the last minute (0 when the ASN is unknown)"`
	ASNAttempts10m    int `expr:"asn_attempts_10m" doc:"decisions asked from this address's autonomous system in the last 10 minutes (0 when the ASN is unknown)"`
	ASNFailures1m     int `expr:"asn_failures_1m" doc:"failed logins from this address's autonomous system in the last minute (0 when the ASN is unknown)"`
	ASNFailures10m    int `expr:"asn_failures_10m" doc:"failed logins from this address's autonomous system in the last 10 minutes (0 when the ASN is unknown)"`
	ASNFailures1h     int `expr:"asn_failures_1h" doc:"failed logins from this address's autonomous system in the last hour (0 when the ASN is unknown)"`

	// Distinct counts over attempts (failed ones too), to the minute, before this event. Exact up to 8 (16 for
	// user_ips_*); ip_users_* and subnet_users_1h estimate beyond (about ±12% at 100) and stop at 266; the
	// others stop at 8 (16), meaning "at least".
	IPUsers10m       int `expr:"ip_users_10m" doc:"distinct users tried from this IP address in the last 10 minutes"`
	IPUsers1h        int `expr:"ip_users_1h" doc:"distinct users tried from this IP address in the last hour"`
	IPUsers24h       int `expr:"ip_users_24h" doc:"distinct users tried from this IP address in the last 24 hours"`
	SubnetUsers1h    int `expr:"subnet_users_1h" doc:"distinct users tried from this address's network (/24, /64) in the last hour"`
	DeviceUsers24h   int `expr:"device_users_24h" doc:"distinct users tried from this device in the last 24 hours (up to 8)"`
	UserIPs1h        int `expr:"user_ips_1h" doc:"distinct IP addresses this user was tried from in the last hour (up to 16)"`
	UserIPs24h       int `expr:"user_ips_24h" doc:"distinct IP addresses this user was tried from in the last 24 hours (up to 16)"`
	UserDevices24h   int `expr:"user_devices_24h" doc:"distinct devices this user was tried from in the last 24 hours (up to 8)"`
	UserCountries24h int `expr:"user_countries_24h" doc:"distinct countries this user was tried from in the last 24 hours (up to 8; located addresses only)"`

	// Sums and device facts, before this event.
	UserAmount1h    float64 `expr:"user_amount_1h" doc:"sum of the amounts of this user's events in the last hour, in the reporting currency"`
	UserAmount24h   float64 `expr:"user_amount_24h" doc:"sum of the amounts of this user's events in the last 24 hours, in the reporting currency"`
	DeviceAgeDays   float64 `expr:"device_age_days" doc:"days since riskd first saw this device_id, with any user (0 when new or without device_id)"`
	DeviceUAChanged bool    `expr:"device_ua_changed" doc:"this device_id was last seen with another browser family or OS (false without a parsed user_agent)"`

	// What this user usually does (learned from successful and MFA-confirmed logins).
	NewUser         bool    `expr:"new_user" doc:"riskd has no successful login for this user"`
	UserLogins      int     `expr:"user_logins" doc:"successful logins riskd has learned for this user"`
	AccountAgeDays  float64 `expr:"account_age_days" doc:"days since riskd first saw this user"`
	NewDevice       bool    `expr:"new_device" doc:"the user has a history and this device_id is not in it (false without device_id)"`
	TrustedDevice   bool    `expr:"trusted_device" doc:"an MFA challenge passed on this device for this user, reported by a key for every tenant or by this tenant's"`
	TrustedByOther  bool    `expr:"trusted_by_other_tenant" doc:"an MFA challenge passed on this device for this user, reported only by another tenant's key (trusted_device is false then)"`
	KnownDevices    int     `expr:"known_devices" doc:"devices in the user's history"`
	NewCountry      bool    `expr:"new_country" doc:"the user has a history and never logged in from this country"`
	CountriesSeen   int     `expr:"countries_seen" doc:"countries in the user's history"`
	SinceLastLoginH float64 `expr:"since_last_login_h" doc:"hours since the last successful login (-1 when none)"`
	TravelKm        float64 `expr:"travel_km" doc:"distance from the last successful login, less both accuracy radii, km (0 when unknown)"`
	TravelKmh       float64 `expr:"travel_kmh" doc:"speed needed to travel from the last successful login, km/h (0 when unknown)"`
	HistoryLogins   int     `expr:"history_logins" doc:"logins in the user's behaviour history (networks, ASNs, cities, clients, hours, kept for the retention); the new_* flags below and login_risk need at least one"`
	NewNetwork      bool    `expr:"new_network" doc:"the user's history has networks and this address's /24 (IPv4) or /64 (IPv6) is not among them"`
	NewASN          bool    `expr:"new_asn" doc:"the user's history has ASNs and this address's ASN is not among them (false when the ASN is unknown)"`
	NewCity         bool    `expr:"new_city" doc:"the user's history has cities and this address's city is not among them (false when the city is unknown)"`
	NewUA           bool    `expr:"new_ua" doc:"the user's history has clients and this browser family and OS are not among them (false without a parsed user_agent)"`
	UsualHour       bool    `expr:"usual_hour" doc:"the user has logged in before in this four-hour bin of the day (UTC): 0-3, 4-7, … 20-23"`
	LoginRisk       float64 `expr:"login_risk" doc:"log10 of how much likelier this login is from the population than from this user (network, ASN, city, country, client, device class, hour, device): > 0 unfamiliar, < 0 familiar, 0 without history"`
	Familiarity     float64 `expr:"familiarity" doc:"1 / (1 + 10^login_risk): the probability that the user, not a stranger, logs in like this, for even odds; 0.5 without history"`

	// Lists. Rules test membership with in_list("name"), which compiles to a test of the list's bit here.
	ListMask int `expr:"list_mask" doc:"the lists the event is in, one bit per list the rule set names; use in_list(\"name\") in rules"`

	// Transaction and registration velocity: checkouts and registrations counted apart from other events, per
	// subject, in sliding windows, before this event (features/txvelocity.go). The checkout counts are read on
	// checkouts only and the registration counts on registrations only; they are 0 on other events. Declines are
	// payment_declined outcomes; a small checkout is one below 10 in the reporting currency. Distinct users are
	// exact up to 8 (ip_checkout_users_* and subnet_checkout_users_1h estimate beyond, as ip_users_* do).
	UserCheckouts1h         int `expr:"user_checkouts_1h" doc:"checkouts of this user in the last hour (on checkouts)"`
	UserCheckouts24h        int `expr:"user_checkouts_24h" doc:"checkouts of this user in the last 24 hours (on checkouts)"`
	UserDeclines1h          int `expr:"user_declines_1h" doc:"declined payments of this user in the last hour (on checkouts)"`
	UserDeclines24h         int `expr:"user_declines_24h" doc:"declined payments of this user in the last 24 hours (on checkouts)"`
	UserSmallCheckouts1h    int `expr:"user_small_checkouts_1h" doc:"checkouts below 10 (reporting currency) of this user in the last hour (on checkouts)"`
	DeviceCheckouts1h       int `expr:"device_checkouts_1h" doc:"checkouts from this device in the last hour, any user (on checkouts)"`
	DeviceCheckouts24h      int `expr:"device_checkouts_24h" doc:"checkouts from this device in the last 24 hours, any user (on checkouts)"`
	DeviceDeclines1h        int `expr:"device_declines_1h" doc:"declined payments from this device in the last hour (on checkouts)"`
	DeviceDeclines24h       int `expr:"device_declines_24h" doc:"declined payments from this device in the last 24 hours (on checkouts)"`
	DeviceSmallCheckouts1h  int `expr:"device_small_checkouts_1h" doc:"checkouts below 10 (reporting currency) from this device in the last hour (on checkouts)"`
	DeviceSmallCheckouts24h int `expr:"device_small_checkouts_24h" doc:"checkouts below 10 (reporting currency) from this device in the last 24 hours (on checkouts)"`
	DeviceCheckoutUsers24h  int `expr:"device_checkout_users_24h" doc:"distinct users who checked out from this device in the last 24 hours (up to 8; on checkouts)"`
	IPCheckouts10m          int `expr:"ip_checkouts_10m" doc:"checkouts from this IP address in the last 10 minutes (on checkouts)"`
	IPCheckouts1h           int `expr:"ip_checkouts_1h" doc:"checkouts from this IP address in the last hour (on checkouts)"`
	IPCheckouts24h          int `expr:"ip_checkouts_24h" doc:"checkouts from this IP address in the last 24 hours (on checkouts)"`
	IPDeclines1h            int `expr:"ip_declines_1h" doc:"declined payments from this IP address in the last hour (on checkouts)"`
	IPDeclines24h           int `expr:"ip_declines_24h" doc:"declined payments from this IP address in the last 24 hours (on checkouts)"`
	IPSmallCheckouts1h      int `expr:"ip_small_checkouts_1h" doc:"checkouts below 10 (reporting currency) from this IP address in the last hour (on checkouts)"`
	IPSmallCheckouts24h     int `expr:"ip_small_checkouts_24h" doc:"checkouts below 10 (reporting currency) from this IP address in the last 24 hours (on checkouts)"`
	IPCheckoutUsers1h       int `expr:"ip_checkout_users_1h" doc:"distinct users who checked out from this IP address in the last hour (on checkouts)"`
	IPCheckoutUsers24h      int `expr:"ip_checkout_users_24h" doc:"distinct users who checked out from this IP address in the last 24 hours (on checkouts)"`
	SubnetCheckouts1h       int `expr:"subnet_checkouts_1h" doc:"checkouts from this address's network (/24, /64) in the last hour (on checkouts)"`
	SubnetDeclines1h        int `expr:"subnet_declines_1h" doc:"declined payments from this address's network in the last hour (on checkouts)"`
	SubnetCheckoutUsers1h   int `expr:"subnet_checkout_users_1h" doc:"distinct users who checked out from this address's network in the last hour (on checkouts)"`
	ASNCheckouts10m         int `expr:"asn_checkouts_10m" doc:"checkouts from this address's autonomous system in the last 10 minutes (on checkouts; 0 when the ASN is unknown)"`
	ASNDeclines1h           int `expr:"asn_declines_1h" doc:"declined payments from this address's autonomous system in the last hour (on checkouts; 0 when the ASN is unknown)"`
	IPRegistrations1m       int `expr:"ip_registrations_1m" doc:"registrations from this IP address in the last minute (on registrations)"`
	IPRegistrations10m      int `expr:"ip_registrations_10m" doc:"registrations from this IP address in the last 10 minutes (on registrations)"`
	IPRegistrations1h       int `expr:"ip_registrations_1h" doc:"registrations from this IP address in the last hour (on registrations)"`
	IPRegistrations24h      int `expr:"ip_registrations_24h" doc:"registrations from this IP address in the last 24 hours (on registrations)"`
	SubnetRegistrations1m   int `expr:"subnet_registrations_1m" doc:"registrations from this address's network (/24, /64) in the last minute (on registrations)"`
	SubnetRegistrations10m  int `expr:"subnet_registrations_10m" doc:"registrations from this address's network in the last 10 minutes (on registrations)"`
	SubnetRegistrations1h   int `expr:"subnet_registrations_1h" doc:"registrations from this address's network in the last hour (on registrations)"`
	SubnetRegistrations24h  int `expr:"subnet_registrations_24h" doc:"registrations from this address's network in the last 24 hours (on registrations)"`
	ASNRegistrations1m      int `expr:"asn_registrations_1m" doc:"registrations from this address's autonomous system in the last minute (on registrations; 0 when the ASN is unknown)"`
	ASNRegistrations10m     int `expr:"asn_registrations_10m" doc:"registrations from this address's autonomous system in the last 10 minutes (on registrations)"`
	ASNRegistrations1h      int `expr:"asn_registrations_1h" doc:"registrations from this address's autonomous system in the last hour (on registrations)"`
	ASNRegistrations24h     int `expr:"asn_registrations_24h" doc:"registrations from this address's autonomous system in the last 24 hours (on registrations)"`
	DeviceRegistrations1m   int `expr:"device_registrations_1m" doc:"registrations from this device in the last minute (on registrations)"`
	DeviceRegistrations10m  int `expr:"device_registrations_10m" doc:"registrations from this device in the last 10 minutes (on registrations)"`
	DeviceRegistrations1h   int `expr:"device_registrations_1h" doc:"registrations from this device in the last hour (on registrations)"`
	DeviceRegistrations24h  int `expr:"device_registrations_24h" doc:"registrations from this device in the last 24 hours: the accounts registered from it, retries included (on registrations)"`
	DeviceAccounts24h       int `expr:"device_accounts_24h" doc:"distinct user ids registered from this device in the last 24 hours (up to 8; registrations that carry the new account's user_id)"`
}

// Field describes one field of Vector as rules see it.
type Field struct {
	Name  string // the name rules use
	Type  string // bool, int, float, string
	Doc   string
	Index int // index in Vector, for reflect.Value.Field
}

// NumAttrSlots is how many distinct attribute names one rule set may read with attr(): Vector.Attr0..Attr7.
const NumAttrSlots = 8

// AttrSlot returns the field of v that holds the rule set's attribute slot i (0 <= i < NumAttrSlots).
func (v *Vector) AttrSlot(i int) *string {
	switch i {
	case 0:
		return &v.Attr0
	case 1:
		return &v.Attr1
	case 2:
		return &v.Attr2
	case 3:
		return &v.Attr3
	case 4:
		return &v.Attr4
	case 5:
		return &v.Attr5
	case 6:
		return &v.Attr6
	}
	return &v.Attr7
}

// Fields lists Vector's fields in declaration order. It uses reflection: for the feature reference and for
// explanations, never for the request path.
func Fields() []Field {
	t := reflect.TypeFor[Vector]()
	out := make([]Field, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		typ := f.Type.Kind().String()
		switch f.Type.Kind() {
		case reflect.Int:
			typ = "int"
		case reflect.Float64:
			typ = "float"
		}
		out = append(out, Field{Name: f.Tag.Get("expr"), Type: typ, Doc: f.Tag.Get("doc"), Index: i})
	}
	return out
}
