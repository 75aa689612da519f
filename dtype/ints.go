package dtype

import "encoding/binary"

// intToF32 decodes len(dst) integer or BOOL elements.
func intToF32(dst []float32, src []byte, from DType) {
	le := binary.LittleEndian
	switch from {
	case BOOL:
		for i, b := range src[:len(dst)] {
			dst[i] = 0
			if b != 0 {
				dst[i] = 1
			}
		}
	case U8:
		for i, b := range src[:len(dst)] {
			dst[i] = float32(b)
		}
	case I8:
		for i, b := range src[:len(dst)] {
			dst[i] = float32(int8(b))
		}
	case U16:
		for i := range dst {
			dst[i] = float32(le.Uint16(src[2*i:]))
		}
	case I16:
		for i := range dst {
			dst[i] = float32(int16(le.Uint16(src[2*i:])))
		}
	case U32:
		for i := range dst {
			dst[i] = float32(le.Uint32(src[4*i:]))
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(le.Uint32(src[4*i:])))
		}
	case U64:
		for i := range dst {
			dst[i] = float32(le.Uint64(src[8*i:]))
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(le.Uint64(src[8*i:])))
		}
	}
}
