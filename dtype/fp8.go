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
	return uint8(miniFormat{bits: 8, mbits: 2, bias: 15, maxMag: 0x7b, nan: 0x7e, ovf: 0x7c}.encode(f))
}

// F8E4M3ToFloat32 returns the value of the F8_E4M3 code b, the format
// PyTorch calls float8_e4m3fn: 1 sign, 4 exponent and 3 mantissa bits, bias
// 7, no infinities, and one NaN per sign (S.1111.111); the largest finite
// value is 448.
func F8E4M3ToFloat32(b uint8) float32 {
	s, mag := uint32(b>>7), uint32(b&0x7f)
	if mag == 0x7f {
		return withSign(quietNaN(), s)
	}
	return withSign(decodeFinite(mag, 3, 7), s)
}

// Float32ToF8E4M3 returns the F8_E4M3 (fn) code nearest to f. A value
// that rounds beyond ±448 (so |f| > 464), ±Inf and NaN all give the NaN
// 0x7f with f's sign.
func Float32ToF8E4M3(f float32) uint8 {
	return uint8(miniFormat{bits: 8, mbits: 3, bias: 7, maxMag: 0x7e, nan: 0x7f, ovf: 0x7f}.encode(f))
}

// F8E4M3FNUZToFloat32 returns the value of the F8_E4M3FNUZ code b: 1 sign,
// 4 exponent and 3 mantissa bits, bias 8, no infinities, no negative zero;
// 0x80, the would-be -0, is the only NaN. The largest finite value is 240.
func F8E4M3FNUZToFloat32(b uint8) float32 {
	if b == 0x80 {
		return quietNaN()
	}
	return withSign(decodeFinite(uint32(b&0x7f), 3, 8), uint32(b>>7))
}

// Float32ToF8E4M3FNUZ returns the F8_E4M3FNUZ code nearest to f. A value
// that rounds beyond ±240 (so |f| ≥ 248), ±Inf and NaN give the NaN 0x80;
// -0 and negative values that round to zero give +0 (0x00).
func Float32ToF8E4M3FNUZ(f float32) uint8 {
	return uint8(miniFormat{bits: 8, mbits: 3, bias: 8, maxMag: 0x7f, nan: 0x80, ovf: 0x80, noNeg0: true}.encode(f))
}

// F8E5M2FNUZToFloat32 returns the value of the F8_E5M2FNUZ code b: 1 sign,
// 5 exponent and 2 mantissa bits, bias 16, no infinities, no negative zero;
// 0x80 is the only NaN. The largest finite value is 57344.
func F8E5M2FNUZToFloat32(b uint8) float32 {
	if b == 0x80 {
		return quietNaN()
	}
	return withSign(decodeFinite(uint32(b&0x7f), 2, 16), uint32(b>>7))
}

// Float32ToF8E5M2FNUZ returns the F8_E5M2FNUZ code nearest to f. A value
// that rounds beyond ±57344 (so |f| ≥ 61440), ±Inf and NaN give the NaN
// 0x80; -0 and negative values that round to zero give +0 (0x00).
func Float32ToF8E5M2FNUZ(f float32) uint8 {
	return uint8(miniFormat{bits: 8, mbits: 2, bias: 16, maxMag: 0x7f, nan: 0x80, ovf: 0x80, noNeg0: true}.encode(f))
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
