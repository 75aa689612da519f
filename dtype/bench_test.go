package dtype

import (
	"bytes"
	"io"
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

// sliceSink copies what is written to it into buf, from the start again
// after each reset: a destination in memory, like a staging buffer.
type sliceSink struct {
	buf []byte
	n   int
}

func (s *sliceSink) Write(p []byte) (int, error) {
	s.n += copy(s.buf[s.n:], p)
	return len(p), nil
}

// BenchmarkStream converts 256 MiB of BF16 to F32, 768 MiB read plus
// written per operation, through the streaming converters and, side by
// side, with Convert directly into a reused buffer (the floor: one pass of
// conversion, nothing else) and in blocks into a small reused buffer
// handed to a consumer (what the call sites wrote by hand). "discard"
// hands the converted blocks to io.Discard, measuring the converter alone;
// "sink" copies them into the 512 MiB destination, as a consumer that
// keeps them must.
func BenchmarkStream(b *testing.B) {
	const n = 128 << 20 // elements: 256 MiB of BF16
	src := weights(n, BF16)
	dst := touched(4 * n)
	sink := &sliceSink{buf: dst}
	run := func(name string, fn func() error) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(src) + len(dst)))
			b.ReportAllocs()
			fn() // grow buffers once
			for b.Loop() {
				sink.n = 0
				if err := fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("Convert/direct", func() error {
		_, err := Convert(dst, F32, src, BF16)
		return err
	})
	block := touched(writeBlock)
	blocks := func(w io.Writer) error {
		for rest := src; len(rest) > 0; {
			k := min(len(rest), len(block)/2)
			m, err := Convert(block, F32, rest[:k], BF16)
			if err != nil {
				return err
			}
			w.Write(block[:m])
			rest = rest[k:]
		}
		return nil
	}
	run("Convert/blocks/discard", func() error { return blocks(io.Discard) })
	run("Convert/blocks/sink", func() error { return blocks(sink) })
	var cw ConvertWriter
	writer := func(w io.Writer) error {
		cw.Reset(w, BF16, F32)
		cw.Write(src)
		return cw.Close()
	}
	run("ConvertWriter/discard", func() error { return writer(io.Discard) })
	run("ConvertWriter/sink", func() error { return writer(sink) })
	var cr ConvertReader
	r := bytes.NewReader(src)
	run("ConvertReader/WriteTo/sink", func() error {
		r.Reset(src)
		cr.Reset(r, BF16, F32)
		_, err := cr.WriteTo(sink)
		return err
	})
	scratch := touched(1 << 20)
	run("Convert/scratch/ReadFull", func() error { // device/read.go's pread loop
		for off := 0; off < len(src); off += len(scratch) {
			k := min(len(scratch), len(src)-off)
			if _, err := r.ReadAt(scratch[:k], int64(off)); err != nil {
				return err
			}
			if _, err := Convert(dst[2*off:], F32, scratch[:k], BF16); err != nil {
				return err
			}
		}
		return nil
	})
	run("ConvertReader/ReadFull", func() error {
		r.Reset(src)
		cr.Reset(r, BF16, F32)
		_, err := io.ReadFull(&cr, dst)
		return err
	})
}
