//go:build !purego

package dtype

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAVX2 selects the assembly kernels (kernels_amd64.s): AVX2 for the
// integer lanes and F16C for the half-precision conversions. x/sys/cpu sets
// HasAVX and HasAVX2 only when the OS saves the YMM registers. It is set
// once at package init and only read afterwards.
var useAVX2 = cpu.X86.HasAVX && cpu.X86.HasAVX2 && cpu.X86.HasF16C

const (
	// asmMinElems is the shortest input given to the assembly: it needs
	// 16 elements for its aligning head plus a main-loop block, and below
	// this the pure-Go loop is as fast anyway.
	asmMinElems = 64

	// ntMinBytes is the output size from which the kernels store around
	// the cache: the threshold runtime·memmove uses on amd64. Smaller
	// outputs are likely read again soon and should stay cached.
	ntMinBytes = 1 << 20
)

// The kernels convert n ≥ asmMinElems elements; nt selects non-temporal
// stores.

//go:noescape
func bf16ToF32AVX2(dst, src *byte, n int, nt bool)

//go:noescape
func f16ToF32AVX2(dst, src *byte, n int, nt bool)

//go:noescape
func f32ToBF16AVX2(dst, src *byte, n int, nt bool)

//go:noescape
func f32ToF16AVX2(dst, src *byte, n int, nt bool)

//go:noescape
func bf16ToF16AVX2(dst, src *byte, n int, nt bool)

//go:noescape
func f16ToBF16AVX2(dst, src *byte, n int, nt bool)

// asmElems returns the number of elements of inSize bytes in src that the
// assembly should convert into dst, where each takes outSize bytes, and
// whether to store them non-temporally; n is 0 where the pure-Go loop
// should run instead. It checks dst's length before the assembly writes to
// it, so that a short dst panics instead of corrupting memory.
//
// Each wrapper below calls its kernel directly rather than through a
// shared helper that takes the kernel as a func value: the compiler does
// not inline such a helper, and an indirect call would make dst and src
// escape to the heap, since it could not see the kernels' go:noescape.
func asmElems(dst, src []byte, inSize, outSize int) (n int, nt bool) {
	n = len(src) / inSize
	if !useAVX2 || n < asmMinElems {
		return 0, false
	}
	_ = dst[outSize*n-1]
	return n, outSize*n >= ntMinBytes
}

// Each wrapper converts every element of src, as its pure-Go counterpart
// does.

func cvtBF16ToF32(dst, src []byte) {
	if n, nt := asmElems(dst, src, 2, 4); n > 0 {
		bf16ToF32AVX2(&dst[0], &src[0], n, nt)
	} else {
		bf16ToF32BytesGo(dst, src)
	}
}

func cvtF16ToF32(dst, src []byte) {
	if n, nt := asmElems(dst, src, 2, 4); n > 0 {
		f16ToF32AVX2(&dst[0], &src[0], n, nt)
	} else {
		f16ToF32BytesGo(dst, src)
	}
}

func cvtF32ToBF16(dst, src []byte) {
	if n, nt := asmElems(dst, src, 4, 2); n > 0 {
		f32ToBF16AVX2(&dst[0], &src[0], n, nt)
	} else {
		f32BytesToBF16Go(dst, src)
	}
}

func cvtF32ToF16(dst, src []byte) {
	if n, nt := asmElems(dst, src, 4, 2); n > 0 {
		f32ToF16AVX2(&dst[0], &src[0], n, nt)
	} else {
		f32BytesToF16Go(dst, src)
	}
}

func cvtBF16ToF16(dst, src []byte) {
	if n, nt := asmElems(dst, src, 2, 2); n > 0 {
		bf16ToF16AVX2(&dst[0], &src[0], n, nt)
	} else {
		bf16ToF16Go(dst, src)
	}
}

func cvtF16ToBF16(dst, src []byte) {
	if n, nt := asmElems(dst, src, 2, 2); n > 0 {
		f16ToBF16AVX2(&dst[0], &src[0], n, nt)
	} else {
		f16ToBF16Go(dst, src)
	}
}

// amd64 is little-endian, so a []float32 is its own little-endian
// encoding: the float32-slice wrappers are the byte ones on a view of it.

func cvtBF16ToF32s(dst []float32, src []byte) { cvtBF16ToF32(f32Bytes(dst), src) }
func cvtF16ToF32s(dst []float32, src []byte)  { cvtF16ToF32(f32Bytes(dst), src) }
func cvtF32sToBF16(dst []byte, src []float32) { cvtF32ToBF16(dst, f32Bytes(src)) }
func cvtF32sToF16(dst []byte, src []float32)  { cvtF32ToF16(dst, f32Bytes(src)) }

// f32Bytes views f as its bytes in memory.
func f32Bytes(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))
}
