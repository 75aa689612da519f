package dtype

import "math"

// A miniFormat describes a small sign-magnitude binary float (the signed
// FP8, FP6 and FP4 formats) well enough to round a float32 into it and to
// decode its codes. The special cases differ between the formats, so they
// are data: what a NaN becomes, what an infinity or a finite overflow
// becomes, and whether the format has a negative zero.
type miniFormat struct {
	bits   uint   // total width, sign included
	mbits  uint   // explicit mantissa bits
	bias   int    // exponent bias
	maxMag uint32 // magnitude code of the largest finite value
	nan    uint32 // code for a NaN; the input's sign is ORed in
	ovf    uint32 // code for ±Inf and finite overflow; sign ORed in
	noNeg0 bool   // no negative zero: -0 and negative underflow give +0
}

// format describes the signed mini-float type d: F4, F6_E2M3, F6_E3M2,
// F8_E5M2, F8_E4M3, F8_E4M3FNUZ or F8_E5M2FNUZ. It is the one place that
// holds their parameters, for both the encoders and the decoders.
func format(d DType) miniFormat {
	switch d {
	case F4:
		return miniFormat{bits: 4, mbits: 1, bias: 1, maxMag: 0x7, nan: 0x8, ovf: 0x7}
	case F6_E2M3:
		return miniFormat{bits: 6, mbits: 3, bias: 1, maxMag: 0x1f, nan: 0x20, ovf: 0x1f}
	case F6_E3M2:
		return miniFormat{bits: 6, mbits: 2, bias: 3, maxMag: 0x1f, nan: 0x20, ovf: 0x1f}
	case F8_E5M2:
		return miniFormat{bits: 8, mbits: 2, bias: 15, maxMag: 0x7b, nan: 0x7e, ovf: 0x7c}
	case F8_E4M3:
		return miniFormat{bits: 8, mbits: 3, bias: 7, maxMag: 0x7e, nan: 0x7f, ovf: 0x7f}
	case F8_E4M3FNUZ:
		return miniFormat{bits: 8, mbits: 3, bias: 8, maxMag: 0x7f, nan: 0x80, ovf: 0x80, noNeg0: true}
	case F8_E5M2FNUZ:
		return miniFormat{bits: 8, mbits: 2, bias: 16, maxMag: 0x7f, nan: 0x80, ovf: 0x80, noNeg0: true}
	}
	panic("dtype: format called for a type that is not a signed mini-float")
}

// decode returns the value of the code in the low m.bits bits of c; higher
// bits are ignored. It serves every format but F8_E5M2, whose top exponent
// holds infinities and NaNs as in IEEE and which is decoded as a half.
func (m miniFormat) decode(c uint32) float32 {
	signBit := uint32(1) << (m.bits - 1)
	c &= signBit<<1 - 1
	mag, sign := c&^signBit, c>>(m.bits-1)
	e, frac := mag>>m.mbits, mag&(1<<m.mbits-1)
	var f float32
	switch {
	case mag > m.maxMag: // only F8_E4M3 has such codes: its NaNs
		f = quietNaN()
	case c == signBit && m.noNeg0: // FNUZ: the would-be -0 is the NaN
		return quietNaN()
	case e == 0: // zero or subnormal
		f = float32(frac) * pow2(1-m.bias-int(m.mbits))
	default:
		f = math.Float32frombits(uint32(int(e)-m.bias+127)<<23 | frac<<(23-m.mbits))
	}
	return math.Float32frombits(math.Float32bits(f) | sign<<31)
}

// encode rounds f to the nearest value of the format, ties to even, and
// returns its code in the low bits. ORing the sign into nan and ovf gives
// each format's rule: for FNUZ both are 0x80 and the OR changes nothing.
func (m miniFormat) encode(f float32) uint32 {
	u := math.Float32bits(f)
	sign := u >> 31 << (m.bits - 1)
	a := u & 0x7fffffff
	switch {
	case a > 0x7f800000:
		return m.nan | sign
	case a == 0x7f800000:
		return m.ovf | sign
	}
	q := m.roundMag(a)
	switch {
	case q > m.maxMag:
		return m.ovf | sign
	case q == 0 && m.noNeg0:
		return 0
	}
	return q | sign
}

// roundMag rounds the finite, non-negative float32 with bits a to a
// magnitude code of the format, which may exceed maxMag on overflow.
func (m miniFormat) roundMag(a uint32) uint32 {
	e := int(a >> 23)
	frac := a & 0x7fffff
	if e == 0 {
		e = 1 // float32 subnormal: same scale as e=1, no implicit bit
	} else {
		frac |= 1 << 23
	}
	eb := e - 127 + m.bias // biased target exponent, if normal
	if eb >= 1 {
		// The implicit bit survives the shift at weight 1<<mbits and
		// adds the 1 that eb-1 is missing; a rounding carry out of the
		// mantissa moves on into the exponent, as it should.
		return uint32(eb-1)<<m.mbits + roundShift(frac, uint32(23-m.mbits))
	}
	// Subnormal in the target: shift further by the exponent deficit. A
	// shift of 25 already rounds every frac < 2²⁴ to zero.
	s := 23 - m.mbits + uint(1-eb)
	return roundShift(frac, uint32(min(s, 25)))
}

// pow2 returns 2**k for a k within the normal float32 range.
func pow2(k int) float32 {
	return math.Float32frombits(uint32(k+127) << 23)
}

// quietNaN is the positive quiet float32 NaN that the decoders return.
func quietNaN() float32 { return math.Float32frombits(0x7fc00000) }
