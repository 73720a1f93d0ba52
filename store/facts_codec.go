package store

import (
	"encoding/binary"
	"math"
)

// Facts records as bytes, in snapshots (after the 8-byte key) and in a Redis contribution after its rings: the
// fields in declaration order, little-endian.
// An address's kept register counts are not written: they are derived, and a decoded record counts afresh.
var le = binary.LittleEndian

func (r *userFacts) appendBody(b []byte) []byte {
	b = le.AppendUint32(b, uint32(r.last))
	for _, h := range r.amountHead {
		b = le.AppendUint32(b, uint32(h))
	}
	for _, v := range r.slots {
		b = le.AppendUint32(b, v)
	}
	for w := range r.amount {
		for _, a := range r.amount[w] {
			b = le.AppendUint32(b, math.Float32bits(a))
		}
	}
	return b
}

func (r *userFacts) decodeBody(b []byte) {
	r.last = int32(le.Uint32(b))
	b = b[4:]
	for i := range r.amountHead {
		r.amountHead[i] = int32(le.Uint32(b))
		b = b[4:]
	}
	for i := range r.slots {
		r.slots[i] = le.Uint32(b)
		b = b[4:]
	}
	for w := range r.amount {
		for i := range r.amount[w] {
			r.amount[w][i] = math.Float32frombits(le.Uint32(b))
			b = b[4:]
		}
	}
}

func (r *addrFacts) appendBody(b []byte) []byte {
	b = le.AppendUint32(b, uint32(r.last))
	for _, v := range r.users {
		b = le.AppendUint32(b, v)
	}
	for _, v := range r.regs {
		b = le.AppendUint16(b, v)
	}
	return b
}

func (r *addrFacts) decodeBody(b []byte) {
	r.last = int32(le.Uint32(b))
	b = b[4:]
	for i := range r.users {
		r.users[i] = le.Uint32(b)
		b = b[4:]
	}
	for i := range r.regs {
		r.regs[i] = le.Uint16(b)
		b = b[2:]
	}
	r.regsValid = false // counts of other registers
}

func (r *deviceFacts) appendBody(b []byte) []byte {
	b = le.AppendUint32(b, uint32(r.last))
	b = le.AppendUint32(b, uint32(r.first))
	b = le.AppendUint32(b, r.ua)
	for _, v := range r.users {
		b = le.AppendUint32(b, v)
	}
	return b
}

func (r *deviceFacts) decodeBody(b []byte) {
	r.last = int32(le.Uint32(b))
	r.first = int32(le.Uint32(b[4:]))
	r.ua = le.Uint32(b[8:])
	b = b[12:]
	for i := range r.users {
		r.users[i] = le.Uint32(b)
		b = b[4:]
	}
}
