package dtype

// F4 is the OCP MX FP4 element format E2M1 (PyTorch's float4_e2m1fn_x2
// stores two of them per byte): 1 sign, 2 exponent and 1 mantissa bit, bias
// 1, values ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}, no infinities and no NaN.
//
// Element 2i is the low nibble of byte i and element 2i+1 its high nibble,
// as in PyTorch's float4_e2m1fn_x2.

// F4ToFloat32 returns the value of the F4 (E2M1) code in the low four bits
// of b; the high bits are ignored.
func F4ToFloat32(b uint8) float32 {
	return format(F4).decode(uint32(b))
}

// Float32ToF4 returns the F4 (E2M1) code nearest to f, ties to even, in the
// low four bits. The format has no infinity or NaN, so, as in ml_dtypes and
// the OCP MX specification's conversion, values beyond ±6 and ±Inf saturate
// to ±6, and a NaN, for which the specification leaves the result to the
// implementation, gives 0x8 (-0), which is what ml_dtypes gives for a
// positive NaN.
func Float32ToF4(f float32) uint8 {
	return uint8(format(F4).encode(f))
}

// f4ToF32 unpacks len(dst) = 2·len(src) F4 values through the value table t.
func f4ToF32(dst []float32, src []byte, t *[16]float32) {
	for i, b := range src {
		d := dst[2*i : 2*i+2 : 2*i+2]
		d[0] = t[b&15]
		d[1] = t[b>>4]
	}
}

// f32ToF4 packs len(src) = 2·len(dst) values as F4.
func f32ToF4(dst []byte, src []float32) {
	m := format(F4)
	for i := range dst {
		s := src[2*i : 2*i+2 : 2*i+2]
		dst[i] = uint8(m.encode(s[0]) | m.encode(s[1])<<4)
	}
}
