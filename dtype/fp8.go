package dtype

import "math"

// The FP8 formats. Decoding is exact: every FP8 value is a float32. The
// encoders round to nearest, ties to even, and follow ml_dtypes (the numpy
// types behind jax and safetensors' numpy path) in their non-saturating
// mode, which PyTorch's .to() matches for E5M2 and E4M3 (up to which NaN
// code it picks):
//
//   - E5M2 has infinities: overflow and ±Inf give ±Inf, like IEEE.
//   - E4M3 (fn) and the FNUZ formats have none: a value that rounds beyond
//     the largest finite one, and ±Inf, become NaN. Saturating instead would
//     hide an out-of-range tensor; scale it first if that is what you want.
//   - A NaN becomes the format's NaN, keeping its sign where the format has
//     a signed NaN.
//   - The FNUZ formats have no negative zero: -0 and negative values that
//     round to zero become +0.

// F8E5M2ToFloat32 returns the value of the F8_E5M2 code b: 1 sign, 5
// exponent and 2 mantissa bits, bias 15, IEEE-like with ±Inf (0x7c) and
// NaNs; the largest finite value is 57344. It is the top byte of a half.
func F8E5M2ToFloat32(b uint8) float32 {
	return F16ToFloat32(uint16(b) << 8)
}

// Float32ToF8E5M2 returns the F8_E5M2 code nearest to f. Overflow gives
// ±Inf; a NaN gives the quiet NaN 0x7e with f's sign.
func Float32ToF8E5M2(f float32) uint8 {
	return uint8(format(F8_E5M2).encode(f))
}

// F8E4M3ToFloat32 returns the value of the F8_E4M3 code b, the format
// PyTorch calls float8_e4m3fn: 1 sign, 4 exponent and 3 mantissa bits, bias
// 7, no infinities, and one NaN per sign (S.1111.111); the largest finite
// value is 448.
func F8E4M3ToFloat32(b uint8) float32 {
	return format(F8_E4M3).decode(uint32(b))
}

// Float32ToF8E4M3 returns the F8_E4M3 (fn) code nearest to f. A value
// that rounds beyond ±448 (so |f| > 464), ±Inf and NaN all give the NaN
// 0x7f with f's sign.
func Float32ToF8E4M3(f float32) uint8 {
	return uint8(format(F8_E4M3).encode(f))
}

// F8E4M3FNUZToFloat32 returns the value of the F8_E4M3FNUZ code b: 1 sign,
// 4 exponent and 3 mantissa bits, bias 8, no infinities, no negative zero;
// 0x80, the would-be -0, is the only NaN. The largest finite value is 240.
func F8E4M3FNUZToFloat32(b uint8) float32 {
	return format(F8_E4M3FNUZ).decode(uint32(b))
}

// Float32ToF8E4M3FNUZ returns the F8_E4M3FNUZ code nearest to f. A value
// that rounds beyond ±240 (so |f| ≥ 248), ±Inf and NaN give the NaN 0x80;
// -0 and negative values that round to zero give +0 (0x00).
func Float32ToF8E4M3FNUZ(f float32) uint8 {
	return uint8(format(F8_E4M3FNUZ).encode(f))
}

// F8E5M2FNUZToFloat32 returns the value of the F8_E5M2FNUZ code b: 1 sign,
// 5 exponent and 2 mantissa bits, bias 16, no infinities, no negative zero;
// 0x80 is the only NaN. The largest finite value is 57344.
func F8E5M2FNUZToFloat32(b uint8) float32 {
	return format(F8_E5M2FNUZ).decode(uint32(b))
}

// Float32ToF8E5M2FNUZ returns the F8_E5M2FNUZ code nearest to f. A value
// that rounds beyond ±57344 (so |f| ≥ 61440), ±Inf and NaN give the NaN
// 0x80; -0 and negative values that round to zero give +0 (0x00).
func Float32ToF8E5M2FNUZ(f float32) uint8 {
	return uint8(format(F8_E5M2FNUZ).encode(f))
}

// F8E8M0ToFloat32 returns the value of the F8_E8M0 code b, the OCP MX
// scale format PyTorch calls float8_e8m0fnu: an unsigned power of two
// 2**(b-127), from 2**-127 (0x00; there is no zero) to 2**127 (0xfe), with
// 0xff the NaN.
func F8E8M0ToFloat32(b uint8) float32 {
	switch b {
	case 0xff:
		return quietNaN()
	case 0:
		return pow2(-126) / 2 // 2**-127 is a float32 subnormal
	}
	return pow2(int(b) - 127)
}

// Float32ToF8E8M0 returns the F8_E8M0 code of the power of two nearest to
// f, bit for bit as ml_dtypes computes it (and PyTorch, for positive f).
// A value halfway between two powers, 1.5·2**k, rounds up. NaN, ±Inf, zero
// and negative values have no code and give the NaN 0xff (PyTorch instead
// takes |f| and maps zero to 0x00), as do values that round above 2**127.
// Values below 2**-126, float32 subnormals, round as if code 0x00 were
// zero, again like both references: up to 0x01 when above 2**-127 by any
// amount, else to 0x00.
func Float32ToF8E8M0(f float32) uint8 {
	u := math.Float32bits(f)
	switch e := u >> 23; {
	case u == 0 || u >= 0x7f800000: // zero, negative, Inf or NaN
		return 0xff
	case e == 0: // float32 subnormal
		if u > 0x400000 {
			return 1
		}
		return 0
	default:
		// The implicit leading 1 is odd, so a tie (top dropped bit set,
		// the rest clear) rounds up, like any larger remainder. A carry
		// out of 0xfe lands on 0xff, which is the NaN overflow wants.
		return uint8(e + (u>>22)&1)
	}
}

// f32ToF8 encodes src into dst[:len(src)] in the signed FP8 format m.
//
// It rounds finite in-range values inline and leaves only overflow, Inf
// and NaN to the full encoder; calling that for every value costs several
// times more. In the format's normal range, subtracting the rebias from
// the float32 bits leaves the target's exponent and mantissa in place, so
// rounding at bit 23-mbits gives the code, a carry included. Below it,
// adding a float32 whose unit in the last place is the format's smallest
// subnormal makes the FPU round to nearest even at exactly that unit; the
// sum's low bits are then the code.
func f32ToF8(dst []byte, src []float32, m miniFormat) {
	dst = dst[:len(src)]
	// Loop invariants in locals; "& 31" tells the compiler the shifts are
	// in range, sparing it Go's checks for shifts of 32 or more.
	s := uint32(23-m.mbits) & 31
	minNormal := uint32(127+1-m.bias) << 23 // 2**(1-bias)
	rebias := uint32(127-m.bias) << 23
	half := uint32(1)<<((s-1)&31) - 1
	magicBits := uint32(127-m.bias+int(s)+1) << 23 // ulp 2**(1-bias-mbits)
	magic := math.Float32frombits(magicBits)
	maxMag, negZero := m.maxMag, uint32(0x80)
	if m.noNeg0 {
		negZero = 0
	}
	for i, f := range src {
		u := math.Float32bits(f)
		a := u & 0x7fffffff
		// Both candidates, then a select: the compiler turns it into a
		// conditional move, where a branch on the (unpredictable) range
		// would cost more than the arithmetic.
		q := (a - rebias + half + (a>>s)&1) >> s
		qs := math.Float32bits(math.Float32frombits(a)+magic) - magicBits
		if a < minNormal {
			q = qs
		}
		if q > maxMag { // also catches Inf and NaN, far above maxMag
			dst[i] = uint8(m.encode(f))
			continue
		}
		sign := u >> 31 << 7
		if q == 0 {
			sign &= negZero
		}
		dst[i] = uint8(sign | q)
	}
}
