package dtype

import (
	"encoding/binary"
	"math"
)

// BF16ToFloat32 returns the value of the bfloat16 whose bits are h.
//
// bfloat16 is the top half of a float32, so the conversion is an exact
// shift; NaN payloads, signalling ones included, pass through unchanged.
func BF16ToFloat32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// Float32ToBF16 returns the bits of the bfloat16 nearest to f, ties to even,
// as PyTorch's tensor.to(torch.bfloat16) and ml_dtypes compute it.
//
// Finite values beyond the largest bfloat16 round to ±Inf, as round to
// nearest implies. A NaN stays a NaN of the same sign: its top payload bits
// are kept and the quiet bit is set, so that a NaN whose payload lies only
// in the low half cannot turn into an infinity, as it would under the plain
// truncation some libraries use.
func Float32ToBF16(f float32) uint16 {
	return f32BitsToBF16(math.Float32bits(f))
}

// f32BitsToBF16 is Float32ToBF16 on the bits of a float32.
func f32BitsToBF16(u uint32) uint16 {
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	// Adding 0x7fff plus the lowest kept bit carries into the kept half
	// exactly when the dropped half is above one half, or equal to it with
	// an odd kept half. A carry out of the mantissa bumps the exponent,
	// which is the right result (up to Inf) too.
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// bf16ToF32Go decodes len(dst) bfloat16 values from src. The loops here and
// below test both lengths in their condition so that the compiler can prove
// every index in range and drop the bounds checks, which otherwise cost more
// than the conversion itself.
func bf16ToF32Go(dst []float32, src []byte) {
	for len(src) >= 8 && len(dst) >= 4 {
		u := binary.LittleEndian.Uint64(src)
		d := dst[:4:4]
		d[0] = math.Float32frombits(uint32(u) << 16)
		d[1] = math.Float32frombits(uint32(u>>16) << 16)
		d[2] = math.Float32frombits(uint32(u>>32) << 16)
		d[3] = math.Float32frombits(uint32(u>>48) << 16)
		src, dst = src[8:], dst[4:]
	}
	for i := range dst {
		dst[i] = BF16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// bf16ToF32BytesGo decodes len(src)/2 bfloat16 values into little-endian
// float32 bytes: each 16-bit half moves up to the top of a 32-bit lane.
func bf16ToF32BytesGo(dst, src []byte) {
	for len(src) >= 8 && len(dst) >= 16 {
		u := binary.LittleEndian.Uint64(src)
		binary.LittleEndian.PutUint64(dst, (u&0xffff)<<16|(u&0xffff0000)<<32)
		binary.LittleEndian.PutUint64(dst[8:], (u>>32&0xffff)<<16|(u>>32&0xffff0000)<<32)
		src, dst = src[8:], dst[16:]
	}
	for len(src) >= 2 && len(dst) >= 4 {
		binary.LittleEndian.PutUint32(dst, uint32(binary.LittleEndian.Uint16(src))<<16)
		src, dst = src[2:], dst[4:]
	}
}

// f32ToBF16Go encodes src as bfloat16 into dst[:2*len(src)].
func f32ToBF16Go(dst []byte, src []float32) {
	for len(src) >= 4 && len(dst) >= 8 {
		s := src[:4:4]
		binary.LittleEndian.PutUint64(dst,
			uint64(Float32ToBF16(s[0]))|
				uint64(Float32ToBF16(s[1]))<<16|
				uint64(Float32ToBF16(s[2]))<<32|
				uint64(Float32ToBF16(s[3]))<<48)
		src, dst = src[4:], dst[8:]
	}
	for len(src) >= 1 && len(dst) >= 2 {
		binary.LittleEndian.PutUint16(dst, Float32ToBF16(src[0]))
		src, dst = src[1:], dst[2:]
	}
}

// f32BytesToBF16Go encodes the little-endian float32 values in src as
// bfloat16 into dst[:len(src)/2].
func f32BytesToBF16Go(dst, src []byte) {
	for len(src) >= 16 && len(dst) >= 8 {
		lo := binary.LittleEndian.Uint64(src)
		hi := binary.LittleEndian.Uint64(src[8:])
		binary.LittleEndian.PutUint64(dst,
			uint64(f32BitsToBF16(uint32(lo)))|
				uint64(f32BitsToBF16(uint32(lo>>32)))<<16|
				uint64(f32BitsToBF16(uint32(hi)))<<32|
				uint64(f32BitsToBF16(uint32(hi>>32)))<<48)
		src, dst = src[16:], dst[8:]
	}
	for len(src) >= 4 && len(dst) >= 2 {
		binary.LittleEndian.PutUint16(dst, f32BitsToBF16(binary.LittleEndian.Uint32(src)))
		src, dst = src[4:], dst[2:]
	}
}

// f16ToBF16Go converts len(src)/2 halves to bfloat16 through the half
// table. Going through float32 rounds once only, since every half is exact
// in float32.
func f16ToBF16Go(dst, src []byte) {
	t := f16Table()
	for len(src) >= 8 && len(dst) >= 8 {
		u := binary.LittleEndian.Uint64(src)
		binary.LittleEndian.PutUint64(dst,
			uint64(Float32ToBF16(t[uint16(u)]))|
				uint64(Float32ToBF16(t[uint16(u>>16)]))<<16|
				uint64(Float32ToBF16(t[uint16(u>>32)]))<<32|
				uint64(Float32ToBF16(t[uint16(u>>48)]))<<48)
		src, dst = src[8:], dst[8:]
	}
	for len(src) >= 2 && len(dst) >= 2 {
		binary.LittleEndian.PutUint16(dst, Float32ToBF16(t[binary.LittleEndian.Uint16(src)]))
		src, dst = src[2:], dst[2:]
	}
}
