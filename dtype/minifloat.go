package dtype

import "math"

// A miniFormat describes a small sign-magnitude binary float (the signed
// FP8, FP6 and FP4 formats) well enough to round a float32 into it. The
// special cases differ between the formats, so they are data: what a NaN
// becomes, what an infinity or a finite overflow becomes, and whether the
// format has a negative zero.
type miniFormat struct {
	bits   uint   // total width, sign included
	mbits  uint   // explicit mantissa bits
	bias   int    // exponent bias
	maxMag uint32 // magnitude code of the largest finite value
	nan    uint32 // code for a NaN; the input's sign is ORed in
	ovf    uint32 // code for ±Inf and finite overflow; sign ORed in
	noNeg0 bool   // no negative zero: -0 and negative underflow give +0
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

// decodeFinite returns the value of the non-negative magnitude code mag of
// a format with mbits mantissa bits and the given bias, treating exponent
// field zero as subnormal. Callers deal with the sign and the specials.
func decodeFinite(mag uint32, mbits uint, bias int) float32 {
	e := mag >> mbits
	frac := mag & (1<<mbits - 1)
	if e == 0 {
		return float32(frac) * pow2(1-bias-int(mbits))
	}
	return math.Float32frombits(uint32(int(e)-bias+127)<<23 | frac<<(23-mbits))
}

// pow2 returns 2**k for a k within the normal float32 range.
func pow2(k int) float32 {
	return math.Float32frombits(uint32(k+127) << 23)
}

// withSign returns f negated when the sign bit s (0 or 1) is set.
func withSign(f float32, s uint32) float32 {
	return math.Float32frombits(math.Float32bits(f) | s<<31)
}

// quietNaN is the float32 NaN returned for formats whose NaN has no sign.
func quietNaN() float32 { return math.Float32frombits(0x7fc00000) }
