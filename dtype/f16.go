package dtype

import (
	"encoding/binary"
	"math"
	"sync"
)

// F16ToFloat32 returns the value of the IEEE 754 half-precision float whose
// bits are h. Every half is exactly representable as a float32, so nothing
// is rounded. A NaN keeps its sign and payload and comes out quiet, as with
// github.com/x448/float16 and the F16C instruction VCVTPH2PS.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	a := uint32(h & 0x7fff)
	var u uint32
	switch {
	case a > 0x7c00: // NaN
		u = 0x7fc00000 | (a&0x3ff)<<13
	case a == 0x7c00: // Inf
		u = 0x7f800000
	case a >= 0x0400: // normal: rebias the exponent from 15 to 127
		u = a<<13 + (127-15)<<23
	default: // zero or subnormal: a·2⁻²⁴ is exact in float32
		u = math.Float32bits(float32(a) * 0x1p-24)
	}
	return math.Float32frombits(sign | u)
}

// Float32ToF16 returns the bits of the half-precision float nearest to f,
// ties to even, with the semantics of github.com/x448/float16 (Fromfloat32)
// and of VCVTPS2PH: values beyond the largest half (65504) round to ±Inf,
// values below half the smallest subnormal (2⁻²⁵) to a zero of the same
// sign, and a NaN keeps its sign and top payload bits with the quiet bit
// set.
func Float32ToF16(f float32) uint16 {
	return f32BitsToF16(math.Float32bits(f))
}

// f32BitsToF16 is Float32ToF16 on the bits of a float32.
func f32BitsToF16(u uint32) uint16 {
	if h, ok := f16Normal(u); ok {
		return h
	}
	return f32BitsToF16Rare(u)
}

// f16Normal converts the float32 bits u when they fall in the normal range
// of halves, [2⁻¹⁴, 65520), by far the common case, and reports whether
// they did. It is small enough to inline, so the slice loops below call it
// directly and fall back to the full function for groups with a rare
// value. A carry out of the mantissa bumps the exponent, up to Inf for
// 65504 < |f| < 65520, as rounding wants.
func f16Normal(u uint32) (h uint16, ok bool) {
	a := u & 0x7fffffff
	h = uint16(u>>16)&0x8000 | uint16((a-(127-15)<<23+0xfff+(a>>13)&1)>>13)
	return h, a-0x38800000 < 0x477ff000-0x38800000
}

// f32x4ToF16 converts four float32 bit patterns to halves packed in a
// little-endian uint64, with a single test of the common case.
func f32x4ToF16(u0, u1, u2, u3 uint32) uint64 {
	h0, ok0 := f16Normal(u0)
	h1, ok1 := f16Normal(u1)
	h2, ok2 := f16Normal(u2)
	h3, ok3 := f16Normal(u3)
	if !(ok0 && ok1 && ok2 && ok3) {
		h0, h1 = f32BitsToF16(u0), f32BitsToF16(u1)
		h2, h3 = f32BitsToF16(u2), f32BitsToF16(u3)
	}
	return uint64(h0) | uint64(h1)<<16 | uint64(h2)<<32 | uint64(h3)<<48
}

// f32BitsToF16Rare is f32BitsToF16 outside the normal range of halves.
func f32BitsToF16Rare(u uint32) uint16 {
	sign := uint16(u>>16) & 0x8000
	a := u & 0x7fffffff
	switch {
	case a > 0x7f800000: // NaN
		return sign | 0x7e00 | uint16(a>>13)&0x3ff
	case a >= 0x477ff000: // ≥ 65520, halfway above the largest half: Inf
		return sign | 0x7c00
	case a >= 0x33000000: // ≥ 2⁻²⁵: subnormal half, k·2⁻²⁴
		m := a&0x7fffff | 0x800000
		return sign | uint16(roundShift(m, 126-a>>23))
	}
	return sign
}

// roundShift returns m >> s rounded to nearest, ties to even; 1 ≤ s ≤ 31.
func roundShift(m, s uint32) uint32 {
	return (m + (1<<(s-1) - 1) + (m>>s)&1) >> s
}

// f16Table maps every half to its float32 value. A lookup beats the
// branches of the arithmetic decode on the pure-Go path; at 256 KiB it is
// built on first use, never changed afterwards, and fits in L2.
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	t := new([1 << 16]float32)
	for i := range t {
		t[i] = F16ToFloat32(uint16(i))
	}
	return t
})

// f16ToF32Go decodes len(dst) halves from src.
func f16ToF32Go(dst []float32, src []byte) {
	t := f16Table()
	for len(src) >= 8 && len(dst) >= 4 {
		u := binary.LittleEndian.Uint64(src)
		d := dst[:4:4]
		d[0] = t[uint16(u)]
		d[1] = t[uint16(u>>16)]
		d[2] = t[uint16(u>>32)]
		d[3] = t[uint16(u>>48)]
		src, dst = src[8:], dst[4:]
	}
	for i := range dst {
		dst[i] = t[binary.LittleEndian.Uint16(src[2*i:])]
	}
}

// f16ToF32BytesGo decodes len(src)/2 halves into little-endian float32 bytes.
func f16ToF32BytesGo(dst, src []byte) {
	t := f16Table()
	for len(src) >= 8 && len(dst) >= 16 {
		u := binary.LittleEndian.Uint64(src)
		lo := uint64(math.Float32bits(t[uint16(u)])) | uint64(math.Float32bits(t[uint16(u>>16)]))<<32
		hi := uint64(math.Float32bits(t[uint16(u>>32)])) | uint64(math.Float32bits(t[uint16(u>>48)]))<<32
		binary.LittleEndian.PutUint64(dst, lo)
		binary.LittleEndian.PutUint64(dst[8:], hi)
		src, dst = src[8:], dst[16:]
	}
	for len(src) >= 2 && len(dst) >= 4 {
		binary.LittleEndian.PutUint32(dst, math.Float32bits(t[binary.LittleEndian.Uint16(src)]))
		src, dst = src[2:], dst[4:]
	}
}

// f32ToF16Go encodes src as halves into dst[:2*len(src)].
func f32ToF16Go(dst []byte, src []float32) {
	for len(src) >= 4 && len(dst) >= 8 {
		s := src[:4:4]
		binary.LittleEndian.PutUint64(dst, f32x4ToF16(math.Float32bits(s[0]),
			math.Float32bits(s[1]), math.Float32bits(s[2]), math.Float32bits(s[3])))
		src, dst = src[4:], dst[8:]
	}
	for len(src) >= 1 && len(dst) >= 2 {
		binary.LittleEndian.PutUint16(dst, Float32ToF16(src[0]))
		src, dst = src[1:], dst[2:]
	}
}

// f32BytesToF16Go encodes little-endian float32 values as halves.
func f32BytesToF16Go(dst, src []byte) {
	for len(src) >= 16 && len(dst) >= 8 {
		lo := binary.LittleEndian.Uint64(src)
		hi := binary.LittleEndian.Uint64(src[8:])
		binary.LittleEndian.PutUint64(dst, f32x4ToF16(uint32(lo), uint32(lo>>32), uint32(hi), uint32(hi>>32)))
		src, dst = src[16:], dst[8:]
	}
	for len(src) >= 4 && len(dst) >= 2 {
		binary.LittleEndian.PutUint16(dst, f32BitsToF16(binary.LittleEndian.Uint32(src)))
		src, dst = src[4:], dst[2:]
	}
}

// bf16ToF16Go converts len(src)/2 bfloat16 values to halves, rounding once:
// every bfloat16 is exact in float32.
func bf16ToF16Go(dst, src []byte) {
	for len(src) >= 8 && len(dst) >= 8 {
		u := binary.LittleEndian.Uint64(src)
		binary.LittleEndian.PutUint64(dst, f32x4ToF16(uint32(u)<<16, uint32(u>>16)<<16, uint32(u>>32)<<16, uint32(u>>48)<<16))
		src, dst = src[8:], dst[8:]
	}
	for len(src) >= 2 && len(dst) >= 2 {
		h := binary.LittleEndian.Uint16(src)
		binary.LittleEndian.PutUint16(dst, f32BitsToF16(uint32(h)<<16))
		src, dst = src[2:], dst[2:]
	}
}
