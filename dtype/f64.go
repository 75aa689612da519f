package dtype

import (
	"encoding/binary"
	"math"
)

// f64ToF32 narrows len(dst) little-endian float64 values from src, to
// nearest or, with odd set, with f64ToF32Odd.
func f64ToF32(dst []float32, src []byte, odd bool) {
	for len(src) >= 8 && len(dst) >= 1 {
		x := math.Float64frombits(binary.LittleEndian.Uint64(src))
		if odd {
			dst[0] = f64ToF32Odd(x)
		} else {
			dst[0] = float32(x)
		}
		src, dst = src[8:], dst[1:]
	}
}

// f64ToF32Bytes narrows little-endian float64 values to float32 bytes.
func f64ToF32Bytes(dst, src []byte) {
	for len(src) >= 8 && len(dst) >= 4 {
		f := float32(math.Float64frombits(binary.LittleEndian.Uint64(src)))
		binary.LittleEndian.PutUint32(dst, math.Float32bits(f))
		src, dst = src[8:], dst[4:]
	}
}

// f64ToF32Odd narrows x to float32 "rounding to odd": toward zero, then
// setting the last bit if anything was lost. Rounding that to nearest in a
// format at least two bits narrower (every target here but float32) gives
// the same as rounding x directly (Boldo and Melquiond, "When double
// rounding is odd", 2005); a plain float32(x) can instead land exactly on a
// halfway point of the narrow format, and the second rounding then goes the
// wrong way. ml_dtypes uses the same trick for wide inputs.
func f64ToF32Odd(x float64) float32 {
	f := float32(x)
	if float64(f) == x || x != x {
		return f
	}
	u := math.Float32bits(f)
	if math.Abs(float64(f)) > math.Abs(x) {
		u-- // rounded away from zero (maybe to Inf): step back toward it
	}
	return math.Float32frombits(u | 1)
}
