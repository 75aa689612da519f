package device

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// benchFiles writes, once per benchmark run, a ~256 MiB Llama-like file
// (BF16 tensors of 0.03–16 MiB) and a ~256 MiB MoE-like one (thousands of
// BF16 tensors of 16–112 KiB), both in the page cache and mapped.
func benchFiles(b *testing.B) (llama, moe *loader.File) {
	dir := b.TempDir()
	var ls []spec
	for l := range 12 {
		p := fmt.Sprintf("model.layers.%d.", l)
		ls = append(ls, sp(p+"q", dtype.BF16, 2048, 2048), sp(p+"o", dtype.BF16, 2048, 2048),
			sp(p+"up", dtype.BF16, 2048, 1024), sp(p+"norm", dtype.BF16, 2048))
	}
	ls = append(ls, sp("embed", dtype.BF16, 8192, 1024))
	var ms []spec
	r := rand.New(rand.NewPCG(1, 2))
	var total uint64
	for i := 0; total < 256<<20; i++ {
		n := uint64(8+r.IntN(49)) << 10 // 8..56 Ki elements: 16–112 KiB
		ms = append(ms, sp(fmt.Sprintf("model.layers.%d.mlp.experts.%d.w", i/64, i%64), dtype.BF16, n))
		total += 2 * n
	}
	return writeFile(b, dir, "llama.safetensors", 1, ls), writeFile(b, dir, "moe.safetensors", 2, ms)
}

// BenchmarkLoadSim measures the pipeline on a simulated accelerator whose
// copies are an instant memcpy, so every byte is copied twice on the CPU
// (file → pinned staging → "device"). The Loader, its pinned ring and the
// device memory (the sim recycles it) are reused across iterations, so no
// page fault of fresh memory is timed. Throughput is file bytes per second.
func BenchmarkLoadSim(b *testing.B) {
	llama, moe := benchFiles(b)
	for _, bb := range []struct {
		name  string
		file  *loader.File
		devs  int
		extra []Option
	}{
		{"llama", llama, 1, nil},
		{"llama-timeline", llama, 1, []Option{WithTimeline(new(Timeline))}},
		{"moe", moe, 1, nil},
		{"llama-bf16-to-f32", llama, 1, []Option{WithDType(dtype.F32)}},
		{"llama-column-shard-2dev", llama, 2, []Option{Shard("*", -1)}},
		{"llama-auto-2dev", llama, 2, []Option{OnAuto()}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			s := newSim(b, bb.devs, 8<<30, 0)
			s.instant = true
			devs := make([]Device, bb.devs)
			for i := range devs {
				devs[i] = s.dev(i)
			}
			l := NewLoader(append([]Option{To(devs...)}, bb.extra...)...)
			defer l.Close()
			files := []*loader.File{bb.file}
			set, err := l.Load(b.Context(), files) // warm up, and check once
			if err != nil {
				b.Fatal(err)
			}
			if err := set.Verify(b.Context()); err != nil {
				b.Fatal(err)
			}
			set.Close()
			b.SetBytes(bb.file.Size() - dataOffset(bb.file))
			b.ReportAllocs()
			var chunks int64
			for b.Loop() {
				set, err := l.Load(b.Context(), files)
				if err != nil {
					b.Fatal(err)
				}
				chunks = set.Stats().Chunks
				set.Close()
			}
			b.ReportMetric(float64(chunks), "chunks/op")
		})
	}
}

// BenchmarkMemcpy is the ceiling the pipeline is measured against: one
// copy of the file's bytes from the mapping into reused memory, on one
// goroutine and on GOMAXPROCS goroutines.
func BenchmarkMemcpy(b *testing.B) {
	llama, _ := benchFiles(b)
	src := mappingOf(llama)[dataOffset(llama):]
	dst := make([]byte, len(src))
	copy(dst, src)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				var wg sync.WaitGroup
				part := (len(src) + workers - 1) / workers
				for w := range workers {
					lo, hi := w*part, min((w+1)*part, len(src))
					wg.Go(func() { copy(dst[lo:hi], src[lo:hi]) })
				}
				wg.Wait()
			}
		})
	}
}

// BenchmarkPlan measures the per-tensor cost outside the copies: planning
// and building the Set of an MoE-like file (thousands of tensors) on the
// CPU, where every tensor is a view and nothing is copied.
func BenchmarkPlan(b *testing.B) {
	_, moe := benchFiles(b)
	files := []*loader.File{moe}
	b.ReportAllocs()
	for b.Loop() {
		set, err := Load(b.Context(), files)
		if err != nil {
			b.Fatal(err)
		}
		set.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(tensorCount(moe)), "ns/tensor")
}

// BenchmarkFirstTensor measures the time to the first chunk on a
// simulated device whose pinning runs at 2.5 GB/s shared among the
// threads that pin at once (cuMemHostAlloc on the H200 host of
// bench/RESULTS.md), with a fresh Loader per load as a fresh process has:
// the ring pinned ahead by one goroutine (the default) against readers
// pinning as they need buffers. Copies are instant.
func BenchmarkFirstTensor(b *testing.B) {
	llama, _ := benchFiles(b)
	for _, bb := range []struct {
		name string
		opts []Option
	}{
		{"ahead", nil},
		{"lazy", []Option{WithLazyPinning()}},
	} {
		for _, readers := range []int{8, 16} {
			b.Run(fmt.Sprintf("%s/readers=%d", bb.name, readers), func(b *testing.B) {
				s := newSim(b, 1, 8<<30, 0)
				s.instant, s.pinRate = true, 2.5e9
				var first, total time.Duration
				for b.Loop() {
					set, err := Load(b.Context(), []*loader.File{llama},
						append([]Option{To(s.dev(0)), WithReaders(readers)}, bb.opts...)...)
					if err != nil {
						b.Fatal(err)
					}
					st := set.Stats()
					first += st.Devices[0].FirstTensor
					total += st.Elapsed
					set.Close()
				}
				b.ReportMetric(float64(first.Microseconds())/1e3/float64(b.N), "ms-first")
				b.ReportMetric(float64(total.Microseconds())/1e3/float64(b.N), "ms-load")
			})
		}
	}
}
