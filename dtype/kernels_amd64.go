//go:build !purego

package dtype

import "golang.org/x/sys/cpu"

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
// stores. The *s variants are the same code reached with a float32 pointer.

//go:noescape
func bf16ToF32AVX2(dst, src *byte, n int, nt bool)

//go:noescape
func bf16ToF32sAVX2(dst *float32, src *byte, n int, nt bool)

//go:noescape
func f16ToF32AVX2(dst, src *byte, n int, nt bool)

//go:noescape
func f16ToF32sAVX2(dst *float32, src *byte, n int, nt bool)

//go:noescape
func f32ToBF16AVX2(dst, src *byte, n int, nt bool)

//go:noescape
func f32sToBF16AVX2(dst *byte, src *float32, n int, nt bool)

//go:noescape
func f32ToF16AVX2(dst, src *byte, n int, nt bool)

//go:noescape
func f32sToF16AVX2(dst *byte, src *float32, n int, nt bool)

//go:noescape
func bf16ToF16AVX2(dst, src *byte, n int, nt bool)

//go:noescape
func f16ToBF16AVX2(dst, src *byte, n int, nt bool)

// Each wrapper below converts every element of src, as its pure-Go
// counterpart does. The blank index expressions check dst's length before
// the assembly writes to it, so a short dst panics instead of corrupting
// memory.

func cvtBF16ToF32(dst, src []byte) {
	if n := len(src) / 2; useAVX2 && n >= asmMinElems {
		_ = dst[4*n-1]
		bf16ToF32AVX2(&dst[0], &src[0], n, 4*n >= ntMinBytes)
		return
	}
	bf16ToF32BytesGo(dst, src)
}

func cvtBF16ToF32s(dst []float32, src []byte) {
	if n := len(dst); useAVX2 && n >= asmMinElems {
		_ = src[2*n-1]
		bf16ToF32sAVX2(&dst[0], &src[0], n, 4*n >= ntMinBytes)
		return
	}
	bf16ToF32Go(dst, src)
}

func cvtF16ToF32(dst, src []byte) {
	if n := len(src) / 2; useAVX2 && n >= asmMinElems {
		_ = dst[4*n-1]
		f16ToF32AVX2(&dst[0], &src[0], n, 4*n >= ntMinBytes)
		return
	}
	f16ToF32BytesGo(dst, src)
}

func cvtF16ToF32s(dst []float32, src []byte) {
	if n := len(dst); useAVX2 && n >= asmMinElems {
		_ = src[2*n-1]
		f16ToF32sAVX2(&dst[0], &src[0], n, 4*n >= ntMinBytes)
		return
	}
	f16ToF32Go(dst, src)
}

func cvtF32ToBF16(dst, src []byte) {
	if n := len(src) / 4; useAVX2 && n >= asmMinElems {
		_ = dst[2*n-1]
		f32ToBF16AVX2(&dst[0], &src[0], n, 2*n >= ntMinBytes)
		return
	}
	f32BytesToBF16Go(dst, src)
}

func cvtF32sToBF16(dst []byte, src []float32) {
	if n := len(src); useAVX2 && n >= asmMinElems {
		_ = dst[2*n-1]
		f32sToBF16AVX2(&dst[0], &src[0], n, 2*n >= ntMinBytes)
		return
	}
	f32ToBF16Go(dst, src)
}

func cvtF32ToF16(dst, src []byte) {
	if n := len(src) / 4; useAVX2 && n >= asmMinElems {
		_ = dst[2*n-1]
		f32ToF16AVX2(&dst[0], &src[0], n, 2*n >= ntMinBytes)
		return
	}
	f32BytesToF16Go(dst, src)
}

func cvtF32sToF16(dst []byte, src []float32) {
	if n := len(src); useAVX2 && n >= asmMinElems {
		_ = dst[2*n-1]
		f32sToF16AVX2(&dst[0], &src[0], n, 2*n >= ntMinBytes)
		return
	}
	f32ToF16Go(dst, src)
}

func cvtBF16ToF16(dst, src []byte) {
	if n := len(src) / 2; useAVX2 && n >= asmMinElems {
		_ = dst[2*n-1]
		bf16ToF16AVX2(&dst[0], &src[0], n, 2*n >= ntMinBytes)
		return
	}
	bf16ToF16Go(dst, src)
}

func cvtF16ToBF16(dst, src []byte) {
	if n := len(src) / 2; useAVX2 && n >= asmMinElems {
		_ = dst[2*n-1]
		f16ToBF16AVX2(&dst[0], &src[0], n, 2*n >= ntMinBytes)
		return
	}
	f16ToBF16Go(dst, src)
}
