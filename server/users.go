package server

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/store"
)

// handleUser serves /v1/users/{id}[/preferences]; segs are the path's decoded segments after /v1/users.
func (s *Server) handleUser(ctx *fasthttp.RequestCtx, segs []string) {
	// Users are one identity across all tenants: a key limited to some tenants may not read or erase them.
	who, ok := s.authorizeGlobal(ctx, ScopeAdmin)
	if !ok {
		return
	}
	if len(segs) < 1 || len(segs) > 2 {
		writeError(ctx, errNotFound)
		return
	}
	id, ae := pathID(segs[0], maxIDLen, "invalid_user_id", "user_id")
	if ae != nil {
		writeError(ctx, ae)
		return
	}
	sub := ""
	if len(segs) == 2 {
		sub = segs[1]
	}
	switch sub {
	case "":
		switch {
		case ctx.IsGet():
			s.exportUser(ctx, who, id)
		case ctx.IsDelete():
			s.eraseUser(ctx, who, id)
		default:
			writeError(ctx, methodNotAllowed("GET, DELETE"))
		}
	case "preferences":
		if !ctx.IsPut() {
			writeError(ctx, methodNotAllowed("PUT"))
			return
		}
		s.putPreferences(ctx, who, id)
	default:
		writeError(ctx, errNotFound)
	}
}

// userExport is everything riskd holds about one user. Device ids, addresses and networks are held only as keyed
// hashes (or fingerprints of them), so the export shows those.
type userExport struct {
	UserID        string            `json:"user_id"`
	FirstSeen     string            `json:"first_seen,omitempty"`
	Logins        uint32            `json:"successful_logins"`
	MFAPreference string            `json:"mfa_preference,omitempty"`
	Devices       []deviceExport    `json:"devices"`
	Countries     []countryExport   `json:"countries"`
	LastLogin     *placeExport      `json:"last_login,omitempty"`
	History       historyExport     `json:"history"`
	Spending      *spendExport      `json:"spending,omitempty"`
	Sequences     []sequenceExport  `json:"sensitive_changes"`
	Velocity      map[string]counts `json:"velocity"`
	// Transactions: checkouts, declines, small checkouts and registrations, counted under the user's scoped keys.
	Transactions   map[string]counts `json:"transaction_velocity"`
	RecentActivity activityExport    `json:"recent_activity"`
}

type deviceExport struct {
	DeviceKey    string `json:"device_key"`
	FirstSeen    string `json:"first_seen"`
	LastSeen     string `json:"last_seen"`
	TrustedSince string `json:"trusted_since,omitempty"`
	// TrustedFor is whom the trust holds for: "*" every tenant, else the one tenant whose key reported the
	// passed MFA (named when a key of the keyring names it, else "tenant#" and its key in hex).
	TrustedFor string `json:"trusted_for,omitempty"`
}

type countryExport struct {
	Country  string `json:"country"`
	LastSeen string `json:"last_seen"`
	Logins   uint32 `json:"logins"`
}

type placeExport struct {
	Time       string  `json:"time"`
	Country    string  `json:"country,omitempty"`
	CityID     uint32  `json:"city_geoname_id,omitempty"`
	Lat        float32 `json:"lat,omitempty"`
	Lon        float32 `json:"lon,omitempty"`
	AccuracyKm uint16  `json:"accuracy_km,omitempty"`
	ASN        uint32  `json:"asn,omitempty"`
}

type counts struct {
	M1  uint32 `json:"1m"`
	M10 uint32 `json:"10m"`
	H1  uint32 `json:"1h"`
	H24 uint32 `json:"24h"`
}

// spendExport is the customer's spend profile (store.Spend), amounts in the reporting currency.
type spendExport struct {
	Purchases      uint32  `json:"purchases"`
	TypicalAmount  float64 `json:"typical_amount"`
	SpreadLog      float64 `json:"spread_log"` // standard deviation of the natural log of the amounts
	LargestAmount  float32 `json:"largest_amount"`
	LastPurchase   string  `json:"last_purchase"`
	ReportCurrency string  `json:"reporting_currency"`
}

// sequenceExport is the last sensitive change of one kind (store.Sequences).
type sequenceExport struct {
	Change        string `json:"change"` // password_reset, payment_method_change, profile_change
	Time          string `json:"time"`
	FromNewDevice bool   `json:"from_new_device"`
	DeviceKey     string `json:"device_key,omitempty"` // payment_method_change: the device it came from
}

// historyExport is the profile's behaviour history (store.History): the habits of the user's confirmed logins.
type historyExport struct {
	Logins        int           `json:"logins"`
	Networks      []habitExport `json:"networks"`
	ASNs          []habitExport `json:"asns"`
	Cities        []habitExport `json:"cities"`
	Clients       []habitExport `json:"clients"`
	HoursUTC      []binExport   `json:"hours_utc"`
	DeviceClasses []binExport   `json:"device_classes"`
}

// habitExport is one habit: Key (a keyed hash of a network, a hash of a browser family and OS), ASN or CityID.
type habitExport struct {
	Key      string `json:"key,omitempty"`
	ASN      uint32 `json:"asn,omitempty"`
	CityID   uint32 `json:"city_geoname_id,omitempty"`
	Logins   uint16 `json:"logins"`
	LastSeen string `json:"last_seen"` // a day
}

type binExport struct {
	Hours    string `json:"hours,omitempty"` // "08-12"
	Class    string `json:"class,omitempty"`
	Logins   uint16 `json:"logins"`
	LastSeen string `json:"last_seen"`
}

// activityExport is the user's facts (store.UserFacts): what the user's recent attempts, successful or not,
// left for the distinct counts and amount sums of the last day.
type activityExport struct {
	Addresses []sightedExport `json:"addresses"`
	Devices   []sightedExport `json:"devices"`
	Countries []sightedExport `json:"countries"`
	Amounts   []amountExport  `json:"amounts"`
	Counts    activityCounts  `json:"counts"`
}

// sightedExport is an address or a device (Key: the first 16 bits of its keyed hash) or a country.
type sightedExport struct {
	Key      string `json:"key,omitempty"`
	Country  string `json:"country,omitempty"`
	LastSeen string `json:"last_seen"`
}

type amountExport struct {
	From  string  `json:"from"`
	Until string  `json:"until"`
	Sum   float64 `json:"sum"`
}

// activityCounts are the user's facts as a decision would read them now.
type activityCounts struct {
	IPs1h        uint32  `json:"ips_1h"`
	IPs24h       uint32  `json:"ips_24h"`
	Devices24h   uint32  `json:"devices_24h"`
	Countries24h uint32  `json:"countries_24h"`
	Amount1h     float64 `json:"amount_1h"`
	Amount24h    float64 `json:"amount_24h"`
}

func unixTime(sec int64) string {
	if sec == 0 {
		return ""
	}
	return time.Unix(sec, 0).UTC().Format(time.RFC3339)
}

// dayString writes a History day (days since 1970-01-01) as a date.
func dayString(d uint16) string {
	return time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly)
}

// hexKey writes a key as big-endian hex of its size in bits (16, 32 or 64).
func hexKey(k uint64, bits int) string {
	b := make([]byte, bits/8)
	for i := range b {
		b[i] = byte(k >> (bits - 8*(i+1)))
	}
	return hex.EncodeToString(b)
}

// exportUser answers with everything riskd holds about the user, and audits the export: it takes a person's
// data out of riskd.
func (s *Server) exportUser(ctx *fasthttp.RequestCtx, who caller, id string) {
	var u store.UserData
	now := time.Now().UnixNano()
	found, err := s.engine.Extractor().ExportUser(id, now, &u)
	// The user's checkouts and registrations are counted under keys of their own (features/txvelocity.go).
	var checkouts, registrations store.UserData
	if err == nil {
		var foundC, foundR bool
		foundC, err = s.engine.Extractor().ExportUserScoped(id, features.ScopeCheckout, now, &checkouts)
		if err == nil {
			foundR, err = s.engine.Extractor().ExportUserScoped(id, features.ScopeRegistration, now, &registrations)
		}
		found = found || foundC || foundR
	}
	rec := AuditRecord{Who: who.name(), Source: who.source(), Action: "user.export", Target: s.userTarget(id), Result: "ok"}
	switch {
	case err != nil:
		rec.Result, rec.Detail = "failed", err.Error()
	case !found:
		rec.Result = "not_found"
	}
	s.recordAudit(rec)
	if err != nil {
		s.stateUnavailable(ctx, "export", err)
		return
	}
	if !found {
		writeError(ctx, errUserNotFound)
		return
	}
	p := &u.Profile
	out := userExport{UserID: id, FirstSeen: unixTime(p.Created), Logins: p.Logins,
		MFAPreference: features.MFAPreference(p.MFAPreference).String(),
		Devices:       []deviceExport{}, Countries: []countryExport{}, Velocity: map[string]counts{},
		History: exportHistory(&p.History), RecentActivity: exportActivity(&u.Facts)}
	if sp := &p.Spend; sp.Purchases != 0 {
		out.Spending = &spendExport{Purchases: sp.Purchases, TypicalAmount: sp.Typical(), SpreadLog: sp.SpreadLog(),
			LargestAmount: sp.Largest, LastPurchase: unixTime(sp.LastAt), ReportCurrency: s.engine.Extractor().Rates().Base}
	}
	out.Sequences = []sequenceExport{}
	for k, name := range [store.NumSeqKinds]string{store.SeqPasswordReset: "password_reset",
		store.SeqPaymentMethod: "payment_method_change", store.SeqProfileChange: "profile_change"} {
		q := &p.Sequences
		if q.At[k] == 0 {
			continue
		}
		se := sequenceExport{Change: name, Time: unixTime(q.At[k]), FromNewDevice: q.FromNewDevice(store.SeqKind(k))}
		if store.SeqKind(k) == store.SeqPaymentMethod && q.PaymentDevice != 0 {
			se.DeviceKey = hexKey(q.PaymentDevice, 64)
		}
		out.Sequences = append(out.Sequences, se)
	}
	for _, d := range p.Devices[:p.NumDevices] {
		de := deviceExport{DeviceKey: hexKey(d.Key, 64), FirstSeen: unixTime(d.FirstSeen),
			LastSeen: unixTime(d.LastSeen), TrustedSince: unixTime(d.TrustedAt)}
		if d.TrustedAt != 0 {
			de.TrustedFor = s.trustedFor(d.TrustedBy)
		}
		out.Devices = append(out.Devices, de)
	}
	for _, co := range p.Countries[:p.NumCountries] {
		out.Countries = append(out.Countries, countryExport{Country: string(co.Code[:]), LastSeen: unixTime(co.LastSeen), Logins: co.Logins})
	}
	if l := p.Last; l.At != 0 {
		pe := &placeExport{Time: unixTime(l.At), CityID: l.CityID, ASN: l.ASN}
		if l.Country != [2]byte{} {
			pe.Country = string(l.Country[:])
		}
		if l.HasLocation {
			pe.Lat, pe.Lon, pe.AccuracyKm = l.Lat, l.Lon, l.RadiusKm
		}
		out.LastLogin = pe
	}
	names := [store.NumMetrics]string{store.Attempts: "attempts", store.Failures: "failures", store.Successes: "successes"}
	for m, n := range names {
		w := u.Velocity[m]
		out.Velocity[n] = counts{M1: w[store.Minute], M10: w[store.TenMinutes], H1: w[store.Hour], H24: w[store.Day]}
	}
	window := func(w *store.Counts) counts {
		return counts{M1: w[store.Minute], M10: w[store.TenMinutes], H1: w[store.Hour], H24: w[store.Day]}
	}
	out.Transactions = map[string]counts{
		"checkouts":       window(&checkouts.Velocity[features.CheckoutsMetric]),
		"declines":        window(&checkouts.Velocity[features.DeclinesMetric]),
		"small_checkouts": window(&checkouts.Velocity[features.SmallCheckoutsMetric]),
		"registrations":   window(&registrations.Velocity[store.Attempts]),
	}
	writeJSON(ctx, out)
}

// trustedFor names whom a device's trust holds for (store.Device.TrustedBy): riskd stores a tenant's key, not its
// name, so the name is found among the tenants of the keyring's keys, the only keys that mark trust.
func (s *Server) trustedFor(by uint32) string {
	if by == 0 {
		return "*"
	}
	if kr := s.keys.Load(); kr != nil {
		for _, k := range kr.keys {
			for _, t := range k.Tenants {
				if s.engine.Extractor().TenantKey(t) == by {
					return t
				}
			}
		}
	}
	return "tenant#" + hexKey(uint64(by), 32)
}

func exportHistory(h *store.History) historyExport {
	out := historyExport{Logins: h.Logins()}
	lists := [store.NumHabitKinds]*[]habitExport{store.HabitNetwork: &out.Networks, store.HabitASN: &out.ASNs,
		store.HabitCity: &out.Cities, store.HabitAgent: &out.Clients}
	for k, list := range lists {
		*list = []habitExport{}
		for _, e := range h.List(store.HabitKind(k)) {
			he := habitExport{Logins: e.Logins, LastSeen: dayString(e.Day)}
			switch store.HabitKind(k) {
			case store.HabitASN:
				he.ASN = e.Key
			case store.HabitCity:
				he.CityID = e.Key
			default:
				he.Key = hexKey(uint64(e.Key), 32)
			}
			*list = append(*list, he)
		}
	}
	out.HoursUTC, out.DeviceClasses = []binExport{}, []binExport{}
	width := 24 / store.HourBins
	for i, b := range h.Hours {
		if b.Logins != 0 {
			out.HoursUTC = append(out.HoursUTC, binExport{Hours: fmt.Sprintf("%02d-%02d", i*width, (i+1)*width),
				Logins: b.Logins, LastSeen: dayString(b.Day)})
		}
	}
	for i, b := range h.Classes {
		if b.Logins != 0 {
			out.DeviceClasses = append(out.DeviceClasses, binExport{Class: features.DeviceClass(i), Logins: b.Logins, LastSeen: dayString(b.Day)})
		}
	}
	return out
}

func exportActivity(f *store.UserFacts) activityExport {
	out := activityExport{Addresses: []sightedExport{}, Devices: []sightedExport{}, Countries: []sightedExport{},
		Amounts: []amountExport{}}
	for _, s := range f.IPs {
		out.Addresses = append(out.Addresses, sightedExport{Key: hexKey(uint64(s.Item), 16), LastSeen: unixTime(s.LastSeen)})
	}
	for _, s := range f.Devices {
		out.Devices = append(out.Devices, sightedExport{Key: hexKey(uint64(s.Item), 16), LastSeen: unixTime(s.LastSeen)})
	}
	for _, s := range f.Countries {
		out.Countries = append(out.Countries, sightedExport{Country: s.CountryCode(), LastSeen: unixTime(s.LastSeen)})
	}
	for _, a := range f.Amounts {
		out.Amounts = append(out.Amounts, amountExport{From: unixTime(a.From), Until: unixTime(a.Until), Sum: a.Sum})
	}
	r := &f.Reading
	out.Counts = activityCounts{IPs1h: r.UserIPs1h, IPs24h: r.UserIPs24h, Devices24h: r.UserDevices24h,
		Countries24h: r.UserCountries24h, Amount1h: r.UserAmount1h, Amount24h: r.UserAmount24h}
	return out
}

// eraseUser forgets the user everywhere riskd holds it. It is idempotent: erasing an unknown user succeeds.
// The request is audited before anything is erased: an erasure the audit log cannot record is not made (500
// audit_unavailable), and the caller retries it, rather than one made that nobody can later account for.
func (s *Server) eraseUser(ctx *fasthttp.RequestCtx, who caller, id string) {
	target := s.userTarget(id)
	if err := s.audit.Record(AuditRecord{Who: who.name(), Source: who.source(), Action: "user.erase", Target: target, Result: "requested"}); err != nil {
		s.auditFailed("user.erase", err)
		writeError(ctx, errAuditUnavailable)
		return
	}
	had, err := s.engine.Extractor().EraseUser(id)
	if err != nil {
		s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "user.erase", Target: target, Result: "failed", Detail: err.Error()})
		s.stateUnavailable(ctx, "erase", err)
		return
	}
	if s.cfg.Signals != nil {
		// The security events about the user still waiting for delivery, in memory and on disk.
		if err := s.cfg.Signals.Forget(id); err != nil {
			s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "user.erase", Target: target, Result: "failed", Detail: err.Error()})
			s.stateUnavailable(ctx, "erase", err)
			return
		}
	}
	detail := "nothing was held"
	if had {
		detail = "profile and counters erased"
	}
	s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "user.erase", Target: target, Result: "ok", Detail: detail})
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// errAuditUnavailable refuses an erasure the audit log could not record; nothing was erased.
var errAuditUnavailable = &apiError{status: fasthttp.StatusInternalServerError, code: "audit_unavailable",
	message: "the audit log could not record this erasure, so nothing was erased; retry"}

// errStateUnavailable answers an export or erasure that could not reach all of the state (Redis out of reach, a
// failing disk): a partial export would mislead and a partial erasure must not be reported done.
var errStateUnavailable = &apiError{status: fasthttp.StatusServiceUnavailable, code: "state_unavailable",
	message: "the user's state cannot be reached right now; retry after the Retry-After delay"}

func (s *Server) stateUnavailable(ctx *fasthttp.RequestCtx, op string, err error) {
	s.log.Error("user "+op+" failed: state unavailable", "error", err.Error())
	ctx.Response.Header.Set("Retry-After", "5")
	writeError(ctx, errStateUnavailable)
}

// userTarget names a user in the audit log by the keyed hash of its id: the log must not keep, in clear, the
// identifier of a person whose erasure it records.
func (s *Server) userTarget(id string) string {
	return "user:" + strconv.FormatUint(s.engine.Extractor().UserKey(id), 16)
}

// recordAudit records an act that has happened; a failed write is logged and counted, since the act stands.
func (s *Server) recordAudit(r AuditRecord) {
	if err := s.audit.Record(r); err != nil {
		s.auditFailed(r.Action, err)
	}
}

func (s *Server) auditFailed(action string, err error) {
	s.auditFails.Inc()
	s.log.Error("audit log write failed", "action", action, "error", err.Error())
}

func (s *Server) putPreferences(ctx *fasthttp.RequestCtx, who caller, id string) {
	if ae := requireJSON(ctx); ae != nil {
		writeError(ctx, ae)
		return
	}
	st := s.acquire()
	defer s.release(st)
	o, ae := decodeObject(&st.parser, ctx.PostBody())
	if ae != nil {
		writeError(ctx, ae)
		return
	}
	var pref features.MFAPreference
	o.Visit(func(key []byte, v *fastjson.Value) {
		if ae != nil {
			return
		}
		if string(key) != "mfa_preference" {
			ae = badField("unknown_field", string(key), "unknown field %q", key)
			return
		}
		var str string
		if str, ae = fieldString(v, "mfa_preference", 16); ae == nil {
			var ok bool
			if pref, ok = features.ParseMFAPreference(str); !ok {
				ae = badField("invalid_mfa_preference", "mfa_preference", "mfa_preference must be always, sensitive or adaptive")
			}
		}
	})
	if ae == nil && pref == features.MFAUnset {
		ae = badField("missing_field", "mfa_preference", "mfa_preference is required")
	}
	if ae != nil {
		writeError(ctx, ae)
		return
	}
	s.engine.Extractor().SetMFAPreference(id, pref, time.Now().UnixNano())
	s.recordAudit(AuditRecord{Who: who.name(), Source: who.source(), Action: "user.preferences", Target: s.userTarget(id), Result: "ok", Detail: "mfa_preference=" + pref.String()})
	writeJSON(ctx, map[string]string{"user_id": id, "mfa_preference": pref.String()})
}
