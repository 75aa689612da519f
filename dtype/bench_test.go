package dtype

import (
	"math/rand/v2"
	"testing"
)

// The throughput benchmarks move far more data than the last-level cache
// holds, so they measure memory bandwidth like the GPU loader sees it.
// Every benchmark reports bytes read plus bytes written per operation, so
// the MB/s figures compare directly with BenchmarkCopy's. Buffers are
// allocated and written once before the timed loop: the first write to a
// fresh page costs a page fault, which would otherwise dominate.

// benchElems is the element count of the large benchmarks: 64 MiB of
// float32.
const benchElems = 16 << 20

// touched returns a slice of n bytes whose pages have all been written.
func touched(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 4096 {
		b[i] = 1
	}
	return b
}

// weights returns n elements of type d holding values like a model's
// weights: mostly small normal numbers, so the pure-Go paths take their
// common branches.
func weights(n int, d DType) []byte {
	rng := rand.New(rand.NewPCG(1, 1))
	f := make([]float32, n)
	for i := range f {
		f[i] = float32(rng.NormFloat64() * 0.02)
	}
	out := make([]byte, bytesFor(n, d))
	if err := FromFloat32(out, f, d); err != nil {
		panic(err)
	}
	return out
}

func benchConvert(b *testing.B, n int, from, to DType) {
	src := weights(n, from)
	dst := touched(bytesFor(n, to))
	b.SetBytes(int64(len(src) + len(dst)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Convert(dst, to, src, from); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopy is the memory-bandwidth reference: copy of 64 MiB, 128 MiB
// read plus written per operation.
func BenchmarkCopy(b *testing.B) {
	src, dst := touched(4*benchElems), touched(4*benchElems)
	b.SetBytes(int64(len(src) + len(dst)))
	b.ReportAllocs()
	for b.Loop() {
		copy(dst, src)
	}
}

func BenchmarkBF16ToF32(b *testing.B) { benchConvert(b, benchElems, BF16, F32) }
func BenchmarkF16ToF32(b *testing.B)  { benchConvert(b, benchElems, F16, F32) }
func BenchmarkF32ToBF16(b *testing.B) { benchConvert(b, benchElems, F32, BF16) }
func BenchmarkF32ToF16(b *testing.B)  { benchConvert(b, benchElems, F32, F16) }
func BenchmarkBF16ToF16(b *testing.B) { benchConvert(b, benchElems, BF16, F16) }
func BenchmarkF16ToBF16(b *testing.B) { benchConvert(b, benchElems, F16, BF16) }

// BenchmarkToFloat32BF16 is BenchmarkBF16ToF32 through ToFloat32.
func BenchmarkToFloat32BF16(b *testing.B) {
	src := weights(benchElems, BF16)
	dst := make([]float32, benchElems)
	for i := range dst {
		dst[i] = 1
	}
	b.SetBytes(int64(len(src) + 4*len(dst)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ToFloat32(dst, src, BF16); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConvertBlocked measures pairs without a direct kernel, which go
// through float32 blocks on the stack.
func BenchmarkConvertBlocked(b *testing.B) {
	for _, p := range []struct{ from, to DType }{
		{F8_E4M3, BF16}, {F8_E5M2, F32}, {BF16, F8_E4M3}, {F64, BF16}, {F4, F16},
	} {
		b.Run(p.from.String()+"To"+p.to.String(), func(b *testing.B) {
			benchConvert(b, benchElems, p.from, p.to)
		})
	}
}

// BenchmarkKernels compares each pure-Go loop with its replacement, on a
// cache-resident 64 Ki elements, where compute rather than memory limits.
func BenchmarkKernels(b *testing.B) {
	const n = 64 << 10
	for _, k := range benchKernels() {
		src := weights(n, k.from)
		dst := touched(bytesFor(n, k.to))
		b.Run(k.name, func(b *testing.B) {
			b.SetBytes(int64(len(src) + len(dst)))
			for b.Loop() {
				k.fn(dst, src)
			}
		})
	}
}

type benchKernel struct {
	name     string
	from, to DType
	fn       func(dst, src []byte)
}

// goKernels are the pure-Go byte kernels; kernels_amd64_test.go adds the
// assembly ones.
func goKernels() []benchKernel {
	return []benchKernel{
		{"BF16ToF32/go", BF16, F32, bf16ToF32BytesGo},
		{"F16ToF32/go", F16, F32, f16ToF32BytesGo},
		{"F32ToBF16/go", F32, BF16, f32BytesToBF16Go},
		{"F32ToF16/go", F32, F16, f32BytesToF16Go},
		{"BF16ToF16/go", BF16, F16, bf16ToF16Go},
		{"F16ToBF16/go", F16, BF16, f16ToBF16Go},
	}
}
