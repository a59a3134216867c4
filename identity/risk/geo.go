package risk

import "math"

// earthRadiusKm is the mean Earth radius (IUGG), used by the haversine
// formula.
const earthRadiusKm = 6371.0088

// DistanceKm returns the great-circle distance in kilometres between two
// points given in degrees, by the haversine formula on a spherical Earth
// (error under 0.5% against the ellipsoid, far below what the travel rule
// needs).
func DistanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	phi1, phi2 := lat1*rad, lat2*rad
	dPhi := (lat2 - lat1) * rad
	dLambda := (lon2 - lon1) * rad
	sPhi, sLambda := math.Sin(dPhi/2), math.Sin(dLambda/2)
	h := sPhi*sPhi + math.Cos(phi1)*math.Cos(phi2)*sLambda*sLambda
	// Rounding can push h a hair outside [0, 1] for antipodal points.
	h = math.Min(1, math.Max(0, h))
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(h))
}

// located reports whether e carries a usable location: HasLocation set and
// coordinates that are finite and in range. Events without one are ignored
// by the travel rule.
func located(e Event) bool {
	return e.HasLocation &&
		!math.IsNaN(e.Lat) && !math.IsNaN(e.Lon) &&
		e.Lat >= -90 && e.Lat <= 90 &&
		e.Lon >= -180 && e.Lon <= 180
}
