package device_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stload/stload/device"
	"github.com/stload/stload/device/devicetest"
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
// (file → pinned staging → "device"). The Placer, its pinned ring and the
// device memory (the sim recycles it) are reused across iterations, so no
// page fault of fresh memory is timed. Throughput is file bytes per second.
func BenchmarkLoadSim(b *testing.B) {
	llama, moe := benchFiles(b)
	for _, bb := range []struct {
		name  string
		file  *loader.File
		devs  int
		extra []device.Option
	}{
		{"llama", llama, 1, nil},
		{"llama-timeline", llama, 1, []device.Option{device.WithTimeline(new(device.Timeline))}},
		{"moe", moe, 1, nil},
		{"llama-bf16-to-f32", llama, 1, []device.Option{device.WithDType(dtype.F32)}},
		{"llama-column-shard-2dev", llama, 2, []device.Option{device.Shard("*", -1)}},
		{"llama-auto-2dev", llama, 2, []device.Option{device.OnAuto()}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			s := devicetest.Install(b, devicetest.Options{GPUs: bb.devs, Memory: 8 << 30, Reuse: true})
			devs := make([]device.Device, bb.devs)
			for i := range devs {
				devs[i] = s.Device(i)
			}
			l := device.NewPlacer(append([]device.Option{device.On(devs...)}, bb.extra...)...)
			defer l.Close()
			files := device.Files(bb.file)
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
	files := device.Files(moe)
	b.ReportAllocs()
	for b.Loop() {
		set, err := device.Load(b.Context(), files)
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
// bench/RESULTS.md), with a fresh Placer per load as a fresh process has:
// the ring pinned ahead by one goroutine (the default) against readers
// pinning as they need buffers. Copies are instant.
func BenchmarkFirstTensor(b *testing.B) {
	llama, _ := benchFiles(b)
	for _, bb := range []struct {
		name string
		opts []device.Option
	}{
		{"ahead", nil},
		{"lazy", []device.Option{device.WithTuning(device.Tuning{LazyPinning: true})}},
	} {
		for _, readers := range []int{8, 16} {
			b.Run(fmt.Sprintf("%s/readers=%d", bb.name, readers), func(b *testing.B) {
				s := devicetest.Install(b, devicetest.Options{Memory: 8 << 30, Reuse: true, PinRate: 2.5e9})
				var first, total time.Duration
				for b.Loop() {
					set, err := device.Load(b.Context(), device.Files(llama),
						append([]device.Option{device.On(s.Device(0)), device.WithReaders(readers)}, bb.opts...)...)
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

// BenchmarkConvert measures the two places a load converts through a
// streaming converter: a load of a file read with pread, whose BF16
// tensors are read and converted to F32 a block at a time
// (dtype.ConvertReader), and Set.Verify of such a load, which hashes the
// file's bytes converted as the load converted them (dtype.ConvertWriter).
// The device is simulated with recycled memory and the Placer is reused,
// so neither fresh pinned nor fresh device memory is timed. Throughput is
// source bytes per second.
func BenchmarkConvert(b *testing.B) {
	var specs []spec
	for l := range 8 {
		specs = append(specs, sp(fmt.Sprintf("model.layers.%d.w", l), dtype.BF16, 2048, 2048))
	}
	f := writeFile(b, b.TempDir(), "c.safetensors", 3, specs, loader.WithPread())
	s := devicetest.Install(b, devicetest.Options{Memory: 8 << 30, Reuse: true})
	p := device.NewPlacer(device.On(s.Device(0)), device.WithDType(dtype.F32))
	defer p.Close()
	src := device.Files(f)
	b.Run("pread-load", func(b *testing.B) {
		b.SetBytes(f.Size() - dataOffset(f))
		for b.Loop() {
			set, err := p.Load(b.Context(), src)
			if err != nil {
				b.Fatal(err)
			}
			set.Close()
		}
	})
	b.Run("verify", func(b *testing.B) {
		set, err := p.Load(b.Context(), src)
		if err != nil {
			b.Fatal(err)
		}
		defer set.Close()
		b.SetBytes(f.Size() - dataOffset(f))
		for b.Loop() {
			if err := set.Verify(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
