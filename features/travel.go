package features

import "math"

const earthRadiusKm = 6371.0

// distanceKm is the great-circle distance between two points (haversine).
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	// Each sine once: the compiler does not reuse a call's result, and math.Sin is most of a login's travel cost.
	sLat, sLon := math.Sin(dLat/2), math.Sin(dLon/2)
	a := sLat*sLat + math.Cos(lat1*rad)*math.Cos(lat2*rad)*sLon*sLon
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}

// minTravelHours floors the time between two logins when computing a speed, so that two logins in the same
// second from places a few km apart (after radii) do not read as supersonic.
const minTravelHours = 1.0 / 60

// travel returns the distance between two located logins less both accuracy radii (never negative), and the
// speed needed to cover it in the time between them. Discounting the radii keeps coarse locations (a country
// centroid with a 500 km radius) from raising false alarms.
func travel(lat1, lon1 float64, r1 uint16, lat2, lon2 float64, r2 uint16, hours float64) (km, kmh float64) {
	km = distanceKm(lat1, lon1, lat2, lon2) - float64(r1) - float64(r2)
	if km <= 0 {
		return 0, 0
	}
	return km, km / math.Max(math.Abs(hours), minTravelHours)
}
