package features

import "github.com/riskd/riskd/store"

// fillVelocity fills the vector's velocity section from the counters and facts read for the event (before it).
func fillVelocity(obs *Observation, v *Vector) {
	r := &obs.State
	if obs.HasUser {
		a, f := &r.User[store.Attempts], &r.User[store.Failures]
		v.UserAttempts1m, v.UserAttempts10m, v.UserAttempts1h, v.UserAttempts24h = int(a[0]), int(a[1]), int(a[2]), int(a[3])
		v.UserFailures1m, v.UserFailures10m, v.UserFailures1h, v.UserFailures24h = int(f[0]), int(f[1]), int(f[2]), int(f[3])
	}
	if obs.IPKey != 0 {
		a, f := &r.IP[store.Attempts], &r.IP[store.Failures]
		v.IPAttempts1m, v.IPAttempts10m, v.IPAttempts1h, v.IPAttempts24h = int(a[0]), int(a[1]), int(a[2]), int(a[3])
		v.IPFailures1m, v.IPFailures10m, v.IPFailures1h, v.IPFailures24h = int(f[0]), int(f[1]), int(f[2]), int(f[3])
	}
	if obs.HasDevice {
		a, f := &r.Device[store.Attempts], &r.Device[store.Failures]
		v.DeviceAttempts1m, v.DeviceAttempts1h = int(a[store.Minute]), int(a[store.Hour])
		v.DeviceFailures1m, v.DeviceFailures1h = int(f[store.Minute]), int(f[store.Hour])
	}
	if obs.SubnetKey != 0 {
		a, f := &r.Subnet[store.Attempts], &r.Subnet[store.Failures]
		v.SubnetAttempts1m, v.SubnetAttempts10m, v.SubnetAttempts1h = int(a[store.Minute]), int(a[store.TenMinutes]), int(a[store.Hour])
		v.SubnetFailures1m, v.SubnetFailures10m, v.SubnetFailures1h = int(f[store.Minute]), int(f[store.TenMinutes]), int(f[store.Hour])
	}
	if obs.ASNKey != 0 {
		a, f := &r.ASN[store.Attempts], &r.ASN[store.Failures]
		v.ASNAttempts1m, v.ASNAttempts10m = int(a[store.Minute]), int(a[store.TenMinutes])
		v.ASNFailures1m, v.ASNFailures10m, v.ASNFailures1h = int(f[store.Minute]), int(f[store.TenMinutes]), int(f[store.Hour])
	}
	fillFacts(obs, v)
}

// fillFacts fills the distinct counts, the user's amounts and the device's facts.
func fillFacts(obs *Observation, v *Vector) {
	f := &obs.State.Facts
	v.IPUsers10m, v.IPUsers1h, v.IPUsers24h = int(f.IPUsers10m), int(f.IPUsers1h), int(f.IPUsers24h)
	v.SubnetUsers1h = int(f.SubnetUsers1h)
	v.UserIPs1h, v.UserIPs24h = int(f.UserIPs1h), int(f.UserIPs24h)
	v.UserDevices24h, v.UserCountries24h = int(f.UserDevices24h), int(f.UserCountries24h)
	v.UserAmount1h, v.UserAmount24h = f.UserAmount1h, f.UserAmount24h
	v.DeviceUsers24h = int(f.DeviceUsers24h)
	if f.DeviceFirstSeen != 0 && obs.At > f.DeviceFirstSeen {
		v.DeviceAgeDays = float64(obs.At-f.DeviceFirstSeen) / 86400
	}
	v.DeviceUAChanged = f.DeviceUA != 0 && obs.Traits.Agent != 0 && f.DeviceUA != obs.Traits.Agent
}
