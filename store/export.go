package store

// UserData is everything the state holds about one user, as an export (the right of access) shows it: the
// profile with its behaviour history, the user's velocity counters and the user's facts.
type UserData struct {
	HasProfile bool
	Profile    Profile // History included
	Velocity   [NumMetrics]Counts
	Facts      UserFacts
}

// UserFacts is the user's facts record (facts.go) spelled out: each address, device and country it holds with
// when it was last seen, the amount sums it holds per bucket, and what a decision at the export's time reads
// from it. Addresses and devices are held only as fingerprints (Fingerprint: the top 16 bits of their keyed
// hash), so that is what an export can show.
type UserFacts struct {
	Held      bool      // the state holds a facts record for the user
	IPs       []Sighted // Item: the address's fingerprint
	Devices   []Sighted // Item: the device's fingerprint (the first 16 bits of the profile's device key)
	Countries []Sighted // Item: the country code's two bytes, first byte high
	// Amounts are the sums held per bucket: 10-minute buckets for the hour window, 4-hour ones for the day's.
	Amounts []AmountSum
	// Reading is what a decision at the export's time reads: the user's distinct counts and amount sums (the
	// address, subnet and device fields are not the user's and stay zero).
	Reading Facts
}

// Sighted is one item of a facts record and the last time it was seen (unix seconds, to the minute).
type Sighted struct {
	Item     uint16
	LastSeen int64
}

// AmountSum is the sum of the amounts of the user's attempts from From until Until (unix seconds).
type AmountSum struct {
	From, Until int64
	Sum         float64
}

// CountryCode returns the country code of a Sighted country.
func (s Sighted) CountryCode() string { return string([]byte{byte(s.Item >> 8), byte(s.Item)}) }

// export spells r out into out as of time at (unix seconds). Stamps are read against the record's newest event
// minute, which every stamp of the record lies within a day of, so also a record a decision would no longer
// read (idle for a day) shows what it holds.
func (r *userFacts) export(at int64, out *UserFacts) {
	*out = UserFacts{Held: true}
	newest := stampOf(r.last)
	sighted := func(slots []uint32) []Sighted {
		var s []Sighted
		for _, v := range slots {
			if v != 0 {
				s = append(s, Sighted{Item: uint16(v >> 16), LastSeen: int64(r.last-int32(age(newest, uint16(v)))) * 60})
			}
		}
		return s
	}
	out.IPs, out.Devices, out.Countries = sighted(r.ips()), sighted(r.devices()), sighted(r.countries())
	for j, width := range [2]int64{600, 4 * 3600} { // the Hour and Day windows' buckets (bucketIndices)
		head := int64(r.amountHead[j])
		for k := head - ringLen + 1; k <= head; k++ {
			if a := r.amount[j][slot(k)]; a != 0 {
				out.Amounts = append(out.Amounts, AmountSum{From: k * width, Until: (k + 1) * width, Sum: float64(a)})
			}
		}
	}
	r.read(at, &out.Reading)
}

// held reports whether d holds anything.
func (d *UserData) held() bool {
	return d.HasProfile || d.Velocity != [NumMetrics]Counts{} || d.Facts.Held
}
