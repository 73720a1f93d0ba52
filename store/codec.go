package store

import (
	"encoding/binary"
	"fmt"
	"math"
)

// profileFormat is the first byte of an encoded profile. A new layout takes a new number and DecodeProfile keeps
// reading the old ones, so a data directory or a Redis written by an older riskd stays readable. (An older riskd
// cannot read a newer format: it counts such a profile as damaged and replaces it on its next write, so upgrade
// every instance sharing a Redis together.)
//
//   - 1: devices, countries, the last login.
//   - 2: format 1 followed by the History; a format-1 profile decodes with an empty History.
//   - 3: format 2 with, after each device's trust time, whom the trust holds for (Device.TrustedBy); a device of
//     an older format is trusted for every tenant, as it was.
//   - 4: format 3 followed by the Spend and the Sequences; a profile of an older format decodes with neither.
const (
	profileFormatV1 = 1
	profileFormatV2 = 2
	profileFormatV3 = 3
	profileFormat   = 4
)

// AppendProfile appends the encoding of p to dst: only the devices, countries and habits in use, times as
// varints, days as two bytes. A typical profile takes 80 to 400 bytes instead of its 672 in memory; the format is
// the same on disk and in Redis.
func AppendProfile(dst []byte, p *Profile) []byte {
	dst = append(dst, profileFormat)
	dst = binary.AppendVarint(dst, p.Created)
	dst = binary.AppendUvarint(dst, uint64(p.Logins))
	dst = append(dst, p.MFAPreference, p.NumDevices)
	for _, d := range p.Devices[:p.NumDevices] {
		dst = binary.LittleEndian.AppendUint64(dst, d.Key)
		dst = binary.AppendVarint(dst, d.FirstSeen)
		dst = binary.AppendVarint(dst, d.LastSeen-d.FirstSeen)
		dst = binary.AppendVarint(dst, d.TrustedAt)
		dst = binary.AppendUvarint(dst, uint64(d.TrustedBy))
	}
	dst = append(dst, p.NumCountries)
	for _, c := range p.Countries[:p.NumCountries] {
		dst = append(dst, c.Code[0], c.Code[1])
		dst = binary.AppendVarint(dst, c.LastSeen)
		dst = binary.AppendUvarint(dst, uint64(c.Logins))
	}
	l := &p.Last
	dst = binary.AppendVarint(dst, l.At)
	if l.At != 0 {
		var has byte
		if l.HasLocation {
			has = 1
		}
		dst = append(dst, has, l.Country[0], l.Country[1])
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(l.Lat))
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(l.Lon))
		dst = binary.AppendUvarint(dst, uint64(l.RadiusKm))
		dst = binary.AppendUvarint(dst, uint64(l.CityID))
		dst = binary.AppendUvarint(dst, uint64(l.ASN))
	}
	dst = appendHistory(dst, &p.History)
	return appendMoney(dst, p)
}

// appendMoney appends the Spend (a purchase count, then when it is not 0 the mean, variance and largest amount
// as float32 bits and the last purchase's time) and the Sequences (a byte of the kinds held, their times, a
// byte of new-device flags and, when held, the payment-method change's device).
func appendMoney(dst []byte, p *Profile) []byte {
	s := &p.Spend
	dst = binary.AppendUvarint(dst, uint64(s.Purchases))
	if s.Purchases != 0 {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(s.MeanLog))
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(s.VarLog))
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(s.Largest))
		dst = binary.AppendVarint(dst, s.LastAt)
	}
	q := &p.Sequences
	var held byte
	for k, at := range q.At {
		if at != 0 {
			held |= 1 << k
		}
	}
	if q.PaymentDevice != 0 {
		held |= 1 << 7
	}
	dst = append(dst, held)
	for _, at := range q.At {
		if at != 0 {
			dst = binary.AppendVarint(dst, at)
		}
	}
	if held != 0 {
		dst = append(dst, q.NewDevice)
	}
	if q.PaymentDevice != 0 {
		dst = binary.LittleEndian.AppendUint64(dst, q.PaymentDevice)
	}
	return dst
}

func appendHistory(dst []byte, h *History) []byte {
	for k := range NumHabitKinds {
		dst = append(dst, h.NumHabits[k])
		for _, e := range h.List(k) {
			dst = binary.AppendUvarint(dst, uint64(e.Key))
			dst = binary.AppendUvarint(dst, uint64(e.Logins))
			dst = binary.LittleEndian.AppendUint16(dst, e.Day)
		}
	}
	for _, bins := range [...][]Bin{h.Hours[:], h.Classes[:]} {
		var used byte
		for i, b := range bins {
			if b.Logins != 0 {
				used |= 1 << i
			}
		}
		dst = append(dst, used)
		for _, b := range bins {
			if b.Logins != 0 {
				dst = binary.AppendUvarint(dst, uint64(b.Logins))
				dst = binary.LittleEndian.AppendUint16(dst, b.Day)
			}
		}
	}
	return dst
}

// DecodeProfile decodes what AppendProfile encoded into p. Stored bytes are checked as strictly as a request: a
// damaged record is an error wrapping ErrCorrupt (and p is zeroed), never a panic or an out-of-bounds profile.
func DecodeProfile(b []byte, p *Profile) error {
	*p = Profile{}
	if err := decodeProfile(b, p); err != nil {
		*p = Profile{}
		return err
	}
	return nil
}

func decodeProfile(b []byte, p *Profile) error {
	d := decoder{b: b}
	f := d.byte()
	if f < profileFormatV1 || f > profileFormat {
		return fmt.Errorf("profile format %d: %w", f, ErrCorrupt)
	}
	p.Created = d.varint()
	p.Logins = d.uint32()
	p.MFAPreference = d.byte()
	p.NumDevices = d.byte()
	if p.NumDevices > MaxDevices {
		return fmt.Errorf("profile with %d devices: %w", p.NumDevices, ErrCorrupt)
	}
	for i := range int(p.NumDevices) {
		dv := &p.Devices[i]
		dv.Key = d.uint64()
		dv.FirstSeen = d.varint()
		dv.LastSeen = dv.FirstSeen + d.varint()
		dv.TrustedAt = d.varint()
		if f >= profileFormatV3 {
			if dv.TrustedBy = d.uint32(); dv.TrustedBy != 0 && dv.TrustedAt == 0 {
				return fmt.Errorf("profile device trusted by a tenant but not trusted: %w", ErrCorrupt)
			}
		}
	}
	p.NumCountries = d.byte()
	if p.NumCountries > MaxCountries {
		return fmt.Errorf("profile with %d countries: %w", p.NumCountries, ErrCorrupt)
	}
	for i := range int(p.NumCountries) {
		c := &p.Countries[i]
		c.Code = [2]byte{d.byte(), d.byte()}
		c.LastSeen = d.varint()
		c.Logins = d.uint32()
	}
	l := &p.Last
	l.At = d.varint()
	if l.At != 0 {
		l.HasLocation = d.byte() == 1
		l.Country = [2]byte{d.byte(), d.byte()}
		l.Lat = math.Float32frombits(d.fixed32())
		l.Lon = math.Float32frombits(d.fixed32())
		l.RadiusKm = uint16(min(d.uvarint(), math.MaxUint16))
		l.CityID = d.uint32()
		l.ASN = d.uint32()
		// NaN compares false with everything: it would silently defeat impossible-travel checks.
		if !(l.Lat >= -90 && l.Lat <= 90 && l.Lon >= -180 && l.Lon <= 180) {
			return fmt.Errorf("profile location %v,%v: %w", l.Lat, l.Lon, ErrCorrupt)
		}
	}
	if f >= profileFormatV2 {
		if err := d.history(&p.History); err != nil {
			return err
		}
	}
	if f >= profileFormat {
		if err := d.money(p); err != nil {
			return err
		}
	}
	if d.bad || len(d.b) != 0 {
		return fmt.Errorf("profile of %d bytes: %w", len(b), ErrCorrupt)
	}
	return nil
}

// history decodes what appendHistory encoded. Entries that Apply cannot produce (no logins, key 0, a key twice
// in a list) are refused as damage rather than kept as values the scoring would misread.
func (d *decoder) history(h *History) error {
	for k := range NumHabitKinds {
		n := d.byte()
		if n > MaxHabits {
			return fmt.Errorf("profile with %d habits of kind %d: %w", n, k, ErrCorrupt)
		}
		h.NumHabits[k] = n
		list := h.Habits[k][:n]
		for i := range list {
			e := &list[i]
			e.Key = d.uint32()
			e.Logins = d.count()
			e.Day = d.fixed16()
			if e.Key == 0 {
				return fmt.Errorf("profile habit with key 0: %w", ErrCorrupt)
			}
			for _, o := range list[:i] {
				if o.Key == e.Key {
					return fmt.Errorf("profile habit %d twice: %w", e.Key, ErrCorrupt)
				}
			}
		}
	}
	for _, bins := range [...][]Bin{h.Hours[:], h.Classes[:]} {
		used := d.byte()
		if used>>len(bins) != 0 {
			return fmt.Errorf("profile bins %08b: %w", used, ErrCorrupt)
		}
		for i := range bins {
			if used&(1<<i) != 0 {
				bins[i].Logins = d.count()
				bins[i].Day = d.fixed16()
			}
		}
	}
	if d.bad {
		return fmt.Errorf("profile history: %w", ErrCorrupt)
	}
	return nil
}

// money decodes what appendMoney encoded. Values Apply cannot produce (a non-finite or negative statistic, a
// purchase count without a time, new-device flags of changes not held) are refused as damage.
func (d *decoder) money(p *Profile) error {
	s := &p.Spend
	s.Purchases = d.uint32()
	if s.Purchases != 0 {
		s.MeanLog = math.Float32frombits(d.fixed32())
		s.VarLog = math.Float32frombits(d.fixed32())
		s.Largest = math.Float32frombits(d.fixed32())
		s.LastAt = d.varint()
		finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
		if !finite(s.MeanLog) || !finite(s.VarLog) || !finite(s.Largest) || s.VarLog < 0 || s.Largest < 0 || s.LastAt == 0 {
			return fmt.Errorf("profile spend %+v: %w", *s, ErrCorrupt)
		}
	}
	q := &p.Sequences
	held := d.byte()
	if held&^(1<<NumSeqKinds-1|1<<7) != 0 {
		return fmt.Errorf("profile sequences %08b: %w", held, ErrCorrupt)
	}
	for k := range q.At {
		if held&(1<<k) != 0 {
			if q.At[k] = d.varint(); q.At[k] == 0 {
				return fmt.Errorf("profile sequence %d at 0: %w", k, ErrCorrupt)
			}
		}
	}
	if held != 0 {
		q.NewDevice = d.byte()
		if q.NewDevice&^held != 0 {
			return fmt.Errorf("profile sequence flags %08b of %08b: %w", q.NewDevice, held, ErrCorrupt)
		}
	}
	if held&(1<<7) != 0 {
		if q.PaymentDevice = d.uint64(); q.PaymentDevice == 0 {
			return fmt.Errorf("profile payment device 0: %w", ErrCorrupt)
		}
	}
	if d.bad {
		return fmt.Errorf("profile money: %w", ErrCorrupt)
	}
	return nil
}

// count reads a saturating login count, which is never 0 in an entry in use.
func (d *decoder) count() uint16 {
	v := d.uvarint()
	if v == 0 || v > math.MaxUint16 {
		d.bad = true
		return 0
	}
	return uint16(v)
}

func (d *decoder) fixed16() uint16 {
	if b := d.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

// decoder reads fields from b; a short or malformed field sets bad and reads as zero.
type decoder struct {
	b   []byte
	bad bool
}

// take returns the next n bytes, or nil (marking the input bad) when fewer are left.
func (d *decoder) take(n int) []byte {
	if len(d.b) < n {
		d.bad = true
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) byte() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) fixed32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) uint64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.bad = true
		return 0
	}
	return uint32(v)
}
