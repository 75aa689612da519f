package dtype

// The OCP MX FP6 element formats have no infinities and no NaN:
//
//   - F6_E2M3: 1 sign, 2 exponent, 3 mantissa bits, bias 1, largest 7.5.
//   - F6_E3M2: 1 sign, 3 exponent, 2 mantissa bits, bias 3, largest 28.
//
// Four elements fill three bytes, packed as a little-endian bit stream (see
// the package documentation), the order MX libraries use. Safetensors only
// requires a tensor's bits to fill whole bytes, so F6 data always comes in
// whole groups of three bytes.

// F6E2M3ToFloat32 returns the value of the F6_E2M3 code in the low six bits
// of b; the high bits are ignored.
func F6E2M3ToFloat32(b uint8) float32 {
	return format(F6_E2M3).decode(uint32(b))
}

// F6E3M2ToFloat32 returns the value of the F6_E3M2 code in the low six bits
// of b; the high bits are ignored.
func F6E3M2ToFloat32(b uint8) float32 {
	return format(F6_E3M2).decode(uint32(b))
}

// Float32ToF6E2M3 returns the F6_E2M3 code nearest to f, ties to even, in
// the low six bits. As for [Float32ToF4], values beyond ±7.5 and ±Inf
// saturate to ±7.5 and a NaN gives 0x20 (-0).
func Float32ToF6E2M3(f float32) uint8 {
	return uint8(format(F6_E2M3).encode(f))
}

// Float32ToF6E3M2 returns the F6_E3M2 code nearest to f, ties to even, in
// the low six bits. As for [Float32ToF4], values beyond ±28 and ±Inf
// saturate to ±28 and a NaN gives 0x20 (-0).
func Float32ToF6E3M2(f float32) uint8 {
	return uint8(format(F6_E3M2).encode(f))
}

// f6ToF32 unpacks len(dst) = len(src)/3·4 FP6 values through the table t.
func f6ToF32(dst []float32, src []byte, t *[64]float32) {
	for len(src) >= 3 && len(dst) >= 4 {
		v := uint32(src[0]) | uint32(src[1])<<8 | uint32(src[2])<<16
		d := dst[:4:4]
		d[0] = t[v&63]
		d[1] = t[v>>6&63]
		d[2] = t[v>>12&63]
		d[3] = t[v>>18&63]
		src, dst = src[3:], dst[4:]
	}
}

// f32ToF6 packs len(src) = len(dst)/3·4 values in format m.
func f32ToF6(dst []byte, src []float32, m miniFormat) {
	for len(src) >= 4 && len(dst) >= 3 {
		v := m.encode(src[0]) | m.encode(src[1])<<6 | m.encode(src[2])<<12 | m.encode(src[3])<<18
		dst[0], dst[1], dst[2] = byte(v), byte(v>>8), byte(v>>16)
		src, dst = src[4:], dst[3:]
	}
}
