package dtype

import (
	"encoding/binary"
	"fmt"
	"math"
)

var (
	// ErrUnsupported is returned for a conversion that does not exist:
	// from or to a type the function does not handle (complex64, integers
	// where only floats make sense, a sub-byte target for Convert).
	ErrUnsupported error = &kinded{"dtype: unsupported conversion", "UnsupportedConversion"}

	// ErrLength is returned when a buffer does not hold a whole number of
	// elements or its element count does not match the other buffer's.
	ErrLength error = &kinded{"dtype: length mismatch", "LengthMismatch"}
)

// ToFloat32 decodes the little-endian elements of type from in src into
// dst, which must have exactly one slot per element; for F4 and the F6
// types the element count is len(src)·8/bits, and F6 data must be a
// multiple of three bytes (four elements).
//
// Every floating type but C64 is decoded, exactly except for F64, which is
// rounded to the nearest float32. As a convenience the integer types and
// BOOL (0 or 1) are decoded too; 32- and 64-bit integers round to nearest.
// ToFloat32 does not allocate.
func ToFloat32(dst []float32, src []byte, from DType) error {
	if !from.Valid() || from == C64 {
		return fmt.Errorf("%w: %v to float32", ErrUnsupported, from)
	}
	n, err := elemCount(int64(len(src)), from)
	if err != nil {
		return err
	}
	if n != int64(len(dst)) {
		return fmt.Errorf("%w: %d %v elements into %d float32", ErrLength, n, from, len(dst))
	}
	decode(dst, src, from, false)
	return nil
}

// FromFloat32 encodes src as little-endian elements of type to into dst,
// which must be exactly as long as the encoding: len(src)·bits/8 bytes. The
// targets are F16, BF16, F32, F64, the five FP8 types and, packed as
// documented in this package, F4 and the F6 types (which need an even
// number of elements and a multiple of four, respectively).
//
// Encoding rounds to nearest, ties to even (see the scalar functions such
// as [Float32ToBF16] and [Float32ToF8E4M3] for overflow and NaN). FromFloat32
// does not allocate.
func FromFloat32(dst []byte, src []float32, to DType) error {
	if !to.Float() || to == C64 {
		return fmt.Errorf("%w: float32 to %v", ErrUnsupported, to)
	}
	n := int64(len(src)) * int64(to.Bits())
	if n%8 != 0 {
		return fmt.Errorf("%w: %d elements do not fill whole bytes of %v", ErrLength, len(src), to)
	}
	if n/8 != int64(len(dst)) {
		return fmt.Errorf("%w: %d elements of %v need %d bytes, dst has %d", ErrLength, len(src), to, n/8, len(dst))
	}
	encode(dst, src, to)
	return nil
}

// Convert converts the little-endian elements of type from in src to type
// to, writes them to the start of dst and returns the number of bytes
// written, which is what [ConvertedSize] reports. dst may be longer than
// needed; src and dst must not overlap.
//
// Both types must be floating; the target must be a whole-byte type other
// than C64. Any floating type converts to itself as a plain copy, which
// keeps NaN payloads that decoding and re-encoding would canonicalise.
// Otherwise each value is rounded once, as the target's scalar function
// (such as [Float32ToBF16]) rounds it: to nearest, ties to even, except for
// E8M0, with the same rules for NaN, infinities and overflow. That holds
// for F64 sources too, which a plain trip through float32 would round
// twice.
//
// Convert does not allocate. The common conversions between BF16, F16 and
// F32 run as vector kernels where the CPU has them (AVX2 and F16C on amd64)
// and bypass the cache for large outputs, as copy does, so that converting
// a checkpoint while staging it costs about a memory copy. The other pairs
// go through float32 in small blocks on the stack.
func Convert(dst []byte, to DType, src []byte, from DType) (n int, err error) {
	size, err := ConvertedSize(int64(len(src)), from, to)
	if err != nil {
		return 0, err
	}
	if int64(len(dst)) < size {
		return 0, fmt.Errorf("%w: %v to %v needs %d bytes, dst has %d", ErrLength, from, to, size, len(dst))
	}
	dst = dst[:size]
	switch {
	case from == to:
		copy(dst, src)
	case from == BF16 && to == F32:
		cvtBF16ToF32(dst, src)
	case from == F16 && to == F32:
		cvtF16ToF32(dst, src)
	case from == F32 && to == BF16:
		cvtF32ToBF16(dst, src)
	case from == F32 && to == F16:
		cvtF32ToF16(dst, src)
	case from == BF16 && to == F16:
		cvtBF16ToF16(dst, src)
	case from == F16 && to == BF16:
		cvtF16ToBF16(dst, src)
	case from == F64 && to == F32:
		// A loop of its own: about three times as fast as the blocks.
		f64ToF32Bytes(dst, src)
	default:
		convertBlocks(dst, to, src, from)
	}
	return int(size), nil
}

// ConvertedSize returns the number of bytes that [Convert] writes for n
// bytes of type from converted to type to. It fails with [ErrUnsupported]
// for a pair Convert does not handle (a type that is not floating, C64, or
// a sub-byte target, unless from == to) and with [ErrLength] when n is not
// a whole number of elements (F6: a multiple of three bytes) or the result
// would overflow an int64.
func ConvertedSize(n int64, from, to DType) (int64, error) {
	if !from.Float() || !to.Float() ||
		from != to && (from == C64 || to == C64 || to.Size() == 0) {
		return 0, fmt.Errorf("%w: %v to %v", ErrUnsupported, from, to)
	}
	elems, err := elemCount(n, from)
	if err != nil {
		return 0, err
	}
	if from == to {
		return n, nil
	}
	size := int64(to.Size())
	if elems > math.MaxInt64/size {
		return 0, fmt.Errorf("%w: %d %v elements overflow int64 bytes", ErrLength, elems, to)
	}
	return elems * size, nil
}

// elemCount returns the number of elements of type d in n bytes.
func elemCount(n int64, d DType) (int64, error) {
	bits := int64(d.Bits())
	if n < 0 || n > math.MaxInt64/8 || n*8%bits != 0 {
		return 0, fmt.Errorf("%w: %d bytes is not a whole number of %v elements", ErrLength, n, d)
	}
	return n * 8 / bits, nil
}

// blockElems is the number of values Convert stages on the stack at a time
// on its generic path: small enough to stay in L1 and cheap to zero, large
// enough to amortise the per-block dispatch; a multiple of 4 so that F4 and
// F6 blocks end on byte boundaries.
const blockElems = 512

// convertBlocks converts through a float32 block on the stack.
func convertBlocks(dst []byte, to DType, src []byte, from DType) {
	var buf [blockElems]float32
	bits, size := from.Bits(), to.Size()
	step := blockElems * bits / 8
	// From F64 to anything narrower than float32, narrow to odd first so
	// that the final rounding is the only one that counts.
	odd := from == F64 && to != F32
	for len(src) > 0 {
		nb := min(step, len(src))
		k := nb * 8 / bits
		b := buf[:k]
		decode(b, src[:nb], from, odd)
		encode(dst[:k*size], b, to)
		src, dst = src[nb:], dst[k*size:]
	}
}

// decode implements ToFloat32 once the lengths are checked. With odd set,
// F64 values are narrowed with f64ToF32Odd instead of to nearest.
func decode(dst []float32, src []byte, from DType, odd bool) {
	switch from {
	case BF16:
		cvtBF16ToF32s(dst, src)
	case F16:
		cvtF16ToF32s(dst, src)
	case F32:
		for len(src) >= 4 && len(dst) >= 1 {
			dst[0] = math.Float32frombits(binary.LittleEndian.Uint32(src))
			src, dst = src[4:], dst[1:]
		}
	case F64:
		f64ToF32(dst, src, odd)
	case F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ:
		f8ToF32(dst, src, &smallTables().f8[from-F8_E5M2])
	case F6_E2M3:
		f6ToF32(dst, src, &smallTables().f6[0])
	case F6_E3M2:
		f6ToF32(dst, src, &smallTables().f6[1])
	case F4:
		f4ToF32(dst, src, &smallTables().f4)
	default:
		intToF32(dst, src, from)
	}
}

// encode implements FromFloat32 once the lengths are checked.
func encode(dst []byte, src []float32, to DType) {
	switch to {
	case BF16:
		cvtF32sToBF16(dst, src)
	case F16:
		cvtF32sToF16(dst, src)
	case F32:
		for len(src) >= 1 && len(dst) >= 4 {
			binary.LittleEndian.PutUint32(dst, math.Float32bits(src[0]))
			src, dst = src[1:], dst[4:]
		}
	case F64:
		for len(src) >= 1 && len(dst) >= 8 {
			binary.LittleEndian.PutUint64(dst, math.Float64bits(float64(src[0])))
			src, dst = src[1:], dst[8:]
		}
	case F8_E8M0:
		dst = dst[:len(src)]
		for i, f := range src {
			dst[i] = Float32ToF8E8M0(f)
		}
	case F8_E5M2, F8_E4M3, F8_E4M3FNUZ, F8_E5M2FNUZ:
		f32ToF8(dst, src, format(to))
	case F6_E2M3, F6_E3M2:
		f32ToF6(dst, src, format(to))
	case F4:
		f32ToF4(dst, src)
	}
}
