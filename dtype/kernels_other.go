//go:build purego || !amd64

package dtype

// Without assembly every kernel is the pure-Go loop. The float32-slice
// variants have loops of their own, which store float32 values rather than
// little-endian bytes, so that they are right on big-endian machines too.

func cvtBF16ToF32(dst, src []byte)            { bf16ToF32BytesGo(dst, src) }
func cvtBF16ToF32s(dst []float32, src []byte) { bf16ToF32Go(dst, src) }
func cvtF16ToF32(dst, src []byte)             { f16ToF32BytesGo(dst, src) }
func cvtF16ToF32s(dst []float32, src []byte)  { f16ToF32Go(dst, src) }
func cvtF32ToBF16(dst, src []byte)            { f32BytesToBF16Go(dst, src) }
func cvtF32sToBF16(dst []byte, src []float32) { f32ToBF16Go(dst, src) }
func cvtF32ToF16(dst, src []byte)             { f32BytesToF16Go(dst, src) }
func cvtF32sToF16(dst []byte, src []float32)  { f32ToF16Go(dst, src) }
func cvtBF16ToF16(dst, src []byte)            { bf16ToF16Go(dst, src) }
func cvtF16ToBF16(dst, src []byte)            { f16ToBF16Go(dst, src) }
