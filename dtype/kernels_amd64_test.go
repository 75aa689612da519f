//go:build !purego

package dtype

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// asmKernel pairs an assembly kernel and the wrapper that dispatches to it
// with the pure-Go loop they replace.
type asmKernel struct {
	name        string
	insz, outsz int
	asm         func(dst, src *byte, n int, nt bool)
	cvt         func(dst, src []byte)
	ref         func(dst, src []byte)
}

var asmKernels = []asmKernel{
	{"bf16→f32", 2, 4, bf16ToF32AVX2, cvtBF16ToF32, bf16ToF32BytesGo},
	{"f16→f32", 2, 4, f16ToF32AVX2, cvtF16ToF32, f16ToF32BytesGo},
	{"f32→bf16", 4, 2, f32ToBF16AVX2, cvtF32ToBF16, f32BytesToBF16Go},
	{"f32→f16", 4, 2, f32ToF16AVX2, cvtF32ToF16, f32BytesToF16Go},
	{"bf16→f16", 2, 2, bf16ToF16AVX2, cvtBF16ToF16, bf16ToF16Go},
	{"f16→bf16", 2, 2, f16ToBF16AVX2, cvtF16ToBF16, f16ToBF16Go},
}

// TestAsmMatchesGo runs every kernel on random bit patterns (all classes:
// NaNs, infinities, subnormals, and many rounding cases) of many lengths,
// with every dst alignment and both store modes, and requires the pure-Go
// result byte for byte, with the bytes around dst untouched.
func TestAsmMatchesGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2/F16C on this CPU")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	lengths := []int{64, 65, 71, 72, 79, 80, 95, 96, 97, 127, 128, 129, 200, 1000, 1023, 4099}
	const guard = 64
	for _, k := range asmKernels {
		for _, n := range lengths {
			src := randBytes(rng, n*k.insz)
			want := make([]byte, n*k.outsz)
			k.ref(want, src)
			for off := 0; off < 34; off++ {
				for _, nt := range []bool{false, true} {
					buf := bytes.Repeat([]byte{0xa5}, off+n*k.outsz+guard)
					dst := buf[off : off+n*k.outsz]
					k.asm(&dst[0], &src[0], n, nt)
					if !bytes.Equal(dst, want) {
						i := firstDiff(dst, want)
						t.Fatalf("%s n=%d off=%d nt=%v: byte %d = %#x, want %#x", k.name, n, off, nt, i, dst[i], want[i])
					}
					if bytes.Count(buf[:off], []byte{0xa5}) != off || bytes.Count(buf[off+len(dst):], []byte{0xa5}) != guard {
						t.Fatalf("%s n=%d off=%d nt=%v: wrote outside dst", k.name, n, off, nt)
					}
				}
			}
		}
	}
}

// TestAsmSpecials feeds each kernel the inputs where a vector
// implementation is most likely to differ: every 16-bit pattern, and the
// float32 rounding boundaries of both half formats.
func TestAsmSpecials(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2/F16C on this CPU")
	}
	all16 := make([]byte, 2<<16)
	for i := range 1 << 16 {
		all16[2*i], all16[2*i+1] = byte(i), byte(i>>8)
	}
	f32 := f32Boundaries()
	for _, k := range asmKernels {
		src := all16
		if k.insz == 4 {
			src = f32
		}
		n := len(src) / k.insz
		got := make([]byte, n*k.outsz)
		want := make([]byte, n*k.outsz)
		k.ref(want, src)
		for _, nt := range []bool{false, true} {
			k.asm(&got[0], &src[0], n, nt)
			if i := firstDiff(got, want); i >= 0 {
				e := i / k.outsz
				t.Errorf("%s nt=%v: element %d (input % x): got % x, want % x", k.name, nt, e,
					src[e*k.insz:(e+1)*k.insz], got[e*k.outsz:(e+1)*k.outsz], want[e*k.outsz:(e+1)*k.outsz])
			}
		}
	}
}

// TestWrappersUseAsm checks that the dispatching wrappers (the ones
// Convert, ToFloat32 and FromFloat32 call) agree with the pure-Go loops
// on both sides of the assembly and non-temporal thresholds.
func TestWrappersUseAsm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 63, 64, 65, ntMinBytes/2 + 3} {
		src16 := randBytes(rng, 2*n)
		src32 := randBytes(rng, 4*n)
		f32s := make([]float32, n)
		for i := range f32s {
			f32s[i] = float32frombytes(src32[4*i:])
		}
		check := func(name string, got, want []byte) {
			t.Helper()
			if i := firstDiff(got, want); i >= 0 {
				t.Errorf("%s n=%d: byte %d differs", name, n, i)
			}
		}
		for _, k := range asmKernels {
			src := src16
			if k.insz == 4 {
				src = src32
			}
			w, g := make([]byte, n*k.outsz), make([]byte, n*k.outsz)
			k.ref(w, src)
			k.cvt(g, src)
			check(k.name, g, w)
		}

		// The []float32 wrappers reach the same kernels through a byte view
		// of the float32 slice; they must agree with the portable loops.
		fw, fg := make([]float32, n), make([]float32, n)
		bf16ToF32Go(fw, src16)
		cvtBF16ToF32s(fg, src16)
		check("cvtBF16ToF32s", f32Bytes(fg), f32Bytes(fw))
		f16ToF32Go(fw, src16)
		cvtF16ToF32s(fg, src16)
		check("cvtF16ToF32s", f32Bytes(fg), f32Bytes(fw))
		w, g := make([]byte, 2*n), make([]byte, 2*n)
		f32ToBF16Go(w, f32s)
		cvtF32sToBF16(g, f32s)
		check("cvtF32sToBF16", g, w)
		f32ToF16Go(w, f32s)
		cvtF32sToF16(g, f32s)
		check("cvtF32sToF16", g, w)
	}
}

func benchKernels() []benchKernel {
	return append(goKernels(),
		benchKernel{"BF16ToF32/asm", BF16, F32, cvtBF16ToF32},
		benchKernel{"F16ToF32/asm", F16, F32, cvtF16ToF32},
		benchKernel{"F32ToBF16/asm", F32, BF16, cvtF32ToBF16},
		benchKernel{"F32ToF16/asm", F32, F16, cvtF32ToF16},
		benchKernel{"BF16ToF16/asm", BF16, F16, cvtBF16ToF16},
		benchKernel{"F16ToBF16/asm", F16, BF16, cvtF16ToBF16},
	)
}
