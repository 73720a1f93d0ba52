package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// export reads GET /v1/users/{id} into v, failing unless it answers 200.
func (ts *testServer) export(user string, v any) {
	ts.t.Helper()
	status, m := ts.do(http.MethodGet, "/v1/users/"+user, "", nil)
	if status != http.StatusOK {
		ts.t.Fatalf("export %s: %d %v", user, status, m)
	}
	b, _ := json.Marshal(m)
	if err := json.Unmarshal(b, v); err != nil {
		ts.t.Fatal(err)
	}
}

// loginsHeld is what an export shows of the logins a user was taught.
type loginsHeld struct {
	Logins  int `json:"successful_logins"`
	History struct {
		Logins int `json:"logins"`
	} `json:"history"`
	Velocity struct {
		Successes struct {
			H24 int `json:"24h"`
		} `json:"successes"`
	} `json:"velocity"`
}

// TestLoginSucceededAfterAllowedLoginTeachesOnce: an identity server that reports the outcome of every login, as
// the API suggests, does not make riskd learn an allowed login twice; after a step-up, mfa_passed learns it
// and login_succeeded adds the success only.
func TestLoginSucceededAfterAllowedLoginTeachesOnce(t *testing.T) {
	ts := start(t)
	t0 := time.Now().Add(-47 * time.Hour).Truncate(time.Minute)
	d := ts.decide(login("uma", ipMilton, "uma-laptop", t0))
	if d.Decision != "allow" {
		t.Fatalf("first login: %+v", d)
	}
	for _, typ := range []string{"login_succeeded", "legit_confirmed"} {
		ts.event(map[string]any{"type": typ, "user_id": "uma", "ip": ipMilton, "device_id": "uma-laptop",
			"evaluation_id": d.raw["evaluation_id"], "timestamp": at(t0)})
	}
	var held loginsHeld
	ts.export("uma", &held)
	if held.Logins != 1 || held.History.Logins != 1 {
		t.Fatalf("an allowed login and its outcomes: %+v, want one login", held)
	}

	t1 := t0.Add(46 * time.Hour)
	d = ts.decide(login("uma", ipChangchun, "uma-phone", t1))
	if d.Decision != "step_up" {
		t.Fatalf("new device abroad: %+v", d)
	}
	for _, typ := range []string{"mfa_passed", "login_succeeded", "login_succeeded"} {
		ts.event(map[string]any{"type": typ, "user_id": "uma", "ip": ipChangchun, "device_id": "uma-phone",
			"evaluation_id": d.raw["evaluation_id"], "timestamp": at(t1)})
	}
	held = loginsHeld{}
	ts.export("uma", &held)
	if held.Logins != 2 || held.History.Logins != 2 || held.Velocity.Successes.H24 != 1 {
		t.Fatalf("a step-up, its mfa_passed and login_succeeded twice: %+v, want two logins, one success today", held)
	}
}

// userExport is the part of an export TestExportShowsHistoryAndActivity reads.
type userExport struct {
	History struct {
		Logins   int `json:"logins"`
		Networks []struct {
			Key    string `json:"key"`
			Logins int    `json:"logins"`
		} `json:"networks"`
		ASNs []struct {
			ASN int `json:"asn"`
		} `json:"asns"`
		Cities []struct {
			CityID int `json:"city_geoname_id"`
		} `json:"cities"`
		Clients []struct {
			Key string `json:"key"`
		} `json:"clients"`
		HoursUTC []struct {
			Hours  string `json:"hours"`
			Logins int    `json:"logins"`
		} `json:"hours_utc"`
		DeviceClasses []struct {
			Class string `json:"class"`
		} `json:"device_classes"`
	} `json:"history"`
	Activity struct {
		Addresses []struct {
			Key      string `json:"key"`
			LastSeen string `json:"last_seen"`
		} `json:"addresses"`
		Devices []struct {
			Key      string `json:"key"`
			LastSeen string `json:"last_seen"`
		} `json:"devices"`
		Countries []struct {
			Country  string `json:"country"`
			LastSeen string `json:"last_seen"`
		} `json:"countries"`
		Amounts []struct {
			Sum float64 `json:"sum"`
		} `json:"amounts"`
		Counts struct {
			IPs24h       int     `json:"ips_24h"`
			Countries24h int     `json:"countries_24h"`
			Amount24h    float64 `json:"amount_24h"`
		} `json:"counts"`
	} `json:"recent_activity"`
	Devices []struct {
		Key string `json:"device_key"`
	} `json:"devices"`
}

// TestExportShowsHistoryAndActivity: the export holds the behaviour history and the recent activity (facts)
// riskd keeps, and erasure removes both.
func TestExportShowsHistoryAndActivity(t *testing.T) {
	ts := start(t)
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Hour)
	const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	ev := login("vic", ipMilton, "vic-laptop", t0)
	ev["user_agent"] = chrome
	ts.decide(ev)
	checkout := map[string]any{"type": "checkout", "user_id": "vic", "ip": ipBoxford, "device_id": "vic-laptop",
		"user_agent": chrome, "amount": 42.5, "currency": "EUR", "timestamp": at(t0.Add(time.Minute))}
	ts.decide(checkout)

	var x userExport
	ts.export("vic", &x)
	h := x.History
	if h.Logins != 1 || len(h.Networks) != 1 || len(h.Networks[0].Key) != 8 || h.Networks[0].Logins != 1 ||
		len(h.ASNs) != 1 || h.ASNs[0].ASN == 0 || len(h.Cities) != 1 || h.Cities[0].CityID == 0 || len(h.Clients) != 1 ||
		len(h.HoursUTC) != 1 || h.HoursUTC[0].Logins != 1 || len(h.DeviceClasses) != 1 || h.DeviceClasses[0].Class != "desktop" {
		t.Fatalf("history: %+v", h)
	}
	a := x.Activity
	if len(a.Addresses) != 2 || len(a.Devices) != 1 || len(x.Devices) != 1 || a.Devices[0].Key != x.Devices[0].Key[:4] ||
		a.Devices[0].LastSeen != at(t0.Add(time.Minute)) {
		t.Fatalf("activity: addresses %+v, devices %+v (profile's %+v)", a.Addresses, a.Devices, x.Devices)
	}
	if len(a.Countries) != 2 || len(a.Amounts) != 2 || a.Amounts[0].Sum != 42.5 || a.Counts.IPs24h != 2 ||
		a.Counts.Countries24h != 2 || a.Counts.Amount24h != 42.5 {
		t.Fatalf("activity: countries %+v, amounts %+v, counts %+v", a.Countries, a.Amounts, a.Counts)
	}

	if status, _ := ts.do(http.MethodDelete, "/v1/users/vic", "", nil); status != http.StatusNoContent {
		t.Fatalf("erase: %d", status)
	}
	if status, m := ts.do(http.MethodGet, "/v1/users/vic", "", nil); status != http.StatusNotFound {
		t.Fatalf("export after erasure: %d %v", status, m)
	}
}
