package device_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stload/stload/device"
	"github.com/stload/stload/device/devicetest"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

func TestLoadOneDevice(t *testing.T) {
	dir := t.TempDir()
	mapped := writeFile(t, dir, "m.safetensors", 1, mixed())
	pread, err := loader.Open(mapped.Name(), loader.WithPread())
	if err != nil {
		t.Fatal(err)
	}
	defer pread.Close()
	for _, tt := range []struct {
		name string
		file *loader.File
		opts []device.Option
	}{
		{"mmap, small chunks", mapped, []device.Option{device.WithChunkSize(4 << 10), device.WithChunks(4)}},
		{"pread, one reader, one stream", pread, []device.Option{device.WithChunkSize(8 << 10), device.WithChunks(2), device.WithReaders(1), device.WithStreams(1)}},
		{"mmap, chunk larger than the file", mapped, nil},
		{"aligned 256", mapped, []device.Option{device.WithChunkSize(16 << 10), device.WithAlign(256)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := install(t, 1, 1<<30, 300*time.Microsecond)
			set := load(t, []*loader.File{tt.file}, append([]device.Option{device.On(s.Device(0))}, tt.opts...)...)
			checkSet(t, set, tt.file)
			st := set.Stats()
			if len(st.Devices) != 1 || st.Devices[0].Allocs != 1 || st.Devices[0].Tensors != tensorCount(tt.file) {
				t.Errorf("stats %+v", st.Devices)
			}
			if st.Copied != st.Bytes || st.Bytes == 0 || st.Devices[0].FirstTensor <= 0 || st.Devices[0].FirstTensor > st.Devices[0].Elapsed {
				t.Errorf("stats %+v", st)
			}
			g, _ := device.GeometryOf(tt.opts...)
			if cap := int64(g.Chunks * g.ChunkSize); st.PeakPinned > cap || s.Counters().PeakPinned > cap {
				t.Errorf("pinned %d (sim %d), cap %d", st.PeakPinned, s.Counters().PeakPinned, cap)
			}
			for tn := range set.All() {
				if tn.Len > 0 && tn.Ptr() != tn.Memory.Ptr()+uintptr(tn.Offset) {
					t.Errorf("%s: Ptr", tn.Name)
				}
				if tn.Len > 0 && tn.Offset%int64(max(1, tn.DType.Size())) != 0 {
					t.Errorf("%s at %d: misaligned", tn.Name, tn.Offset)
				}
			}
		})
	}
}

func TestLoadRules(t *testing.T) {
	s := install(t, 2, 1<<30, 200*time.Microsecond)
	f := writeFile(t, t.TempDir(), "m.safetensors", 2, mixed())
	set := load(t, []*loader.File{f}, device.On(s.Device(0)), device.WithChunkSize(8<<10),
		device.Map("*.mlp.*", s.Device(1)), device.Map("model.norm.weight", device.CPU()), device.Map("big", device.CPU()), device.Map("*", s.Device(0)))
	checkSet(t, set, f)
	for tn := range set.All() {
		want := s.Device(0)
		switch {
		case strings.Contains(tn.Name, ".mlp."):
			want = s.Device(1)
		case tn.Name == "model.norm.weight" || tn.Name == "big":
			want = device.CPU()
		}
		if tn.Device != want {
			t.Errorf("%s on %v, want %v", tn.Name, tn.Device, want)
		}
	}
	if big, _ := set.Tensor("big"); !inside(big.Bytes(), mappingOf(f)) {
		t.Error("CPU tensor of a mapped file is not a view of the mapping")
	}
}

func TestLoadAuto(t *testing.T) {
	s := install(t, 3, 1<<30, 100*time.Microsecond)
	s.SetFree(0, 2<<20)
	s.SetFree(1, 1<<20)
	s.SetFree(2, 1<<20)
	f := writeFile(t, t.TempDir(), "m.safetensors", 3, layered(16, dtype.F32, 32))
	set := load(t, []*loader.File{f}, device.OnAuto(), device.WithChunkSize(16<<10))
	checkSet(t, set, f)
	layer := make(map[string]device.Device)
	var bytes [3]int64
	for tn := range set.All() {
		k := device.LayerKey(tn.Name)
		if d, ok := layer[k]; ok && d != tn.Device {
			t.Errorf("layer %s on %v and %v", k, d, tn.Device)
		}
		layer[k] = tn.Device
		bytes[tn.Device.Index] += tn.Len
	}
	total := float64(bytes[0] + bytes[1] + bytes[2])
	if share := float64(bytes[0]) / total; share < 0.35 || share > 0.65 {
		t.Errorf("device 0 (half the free memory) holds %.2f of the bytes", share)
	}
	if len(set.Stats().Devices) != 3 {
		t.Errorf("stats for %d devices", len(set.Stats().Devices))
	}
}

func TestLoadShard(t *testing.T) {
	specs := []spec{
		sp("rows", dtype.F32, 10, 6), sp("cols", dtype.F32, 6, 10), sp("mid", dtype.BF16, 3, 7, 5),
		sp("wide", dtype.F16, 3, 3000), sp("vec", dtype.F32, 7), sp("q4", dtype.F4, 6, 12), sp("keep", dtype.I32, 9),
		sp("tiny", dtype.F32, 2, 2),
	}
	for _, tt := range []struct {
		name string
		pat  string
		dim  int
		opts []device.Option
	}{
		{"rows", "*", 0, nil},
		{"last dim", "*", -1, nil},
		{"columns, chunk smaller than a row", "*", -1, []device.Option{device.WithChunkSize(4 << 10)}},
		{"columns to BF16", "*", -1, []device.Option{device.WithDType(dtype.BF16)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := install(t, 2, 1<<30, 200*time.Microsecond)
			f := writeFile(t, t.TempDir(), "s.safetensors", 4, specs)
			// Three parts: two accelerators and the CPU, so uneven splits and
			// the direct CPU path are both exercised.
			opts := append([]device.Option{device.On(s.Device(0)), device.WithChunkSize(8 << 10), device.Map("keep", s.Device(1)),
				device.Shard(tt.pat, tt.dim, s.Device(0), device.CPU(), s.Device(1))}, tt.opts...)
			set := load(t, []*loader.File{f}, opts...)
			checkSet(t, set, f)
			parts := set.Parts("cols")
			if len(parts) != 3 || parts[1].Device != device.CPU() {
				t.Fatalf("parts of cols: %d", len(parts))
			}
			if _, ok := set.Tensor("cols"); ok {
				t.Error("Tensor returned a sharded tensor")
			}
			if k, _ := set.Tensor("keep"); k == nil || k.Device != s.Device(1) {
				t.Error("keep not whole on device 1")
			}
			d := parts[0].Dim
			if tt.dim == 0 && (d != 0 || parts[0].Shape[0] != 2 || parts[2].Shape[0] != 2) {
				t.Errorf("cols split into %v / %v / %v", parts[0].Shape, parts[1].Shape, parts[2].Shape)
			}
			if tt.dim == -1 && (d != 1 || parts[0].Shape[1] != 4 || parts[2].Shape[1] != 3) {
				t.Errorf("cols split into %v / %v / %v", parts[0].Shape, parts[1].Shape, parts[2].Shape)
			}
		})
	}
	t.Run("sub-byte inside a byte", func(t *testing.T) {
		s := install(t, 2, 1<<30, 0)
		f := writeFile(t, t.TempDir(), "s.safetensors", 5, []spec{sp("q4", dtype.F4, 4, 6)})
		_, err := device.Load(t.Context(), device.Files(f), device.Shard("q4", 1, s.Device(0), s.Device(1), s.Device(0), s.Device(1)))
		if !errors.Is(err, device.ErrPlacement) || !strings.Contains(err.Error(), `"q4"`) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestLoadSeveralFiles(t *testing.T) {
	s := install(t, 2, 1<<30, 200*time.Microsecond)
	dir := t.TempDir()
	var files []*loader.File
	for i := range 3 {
		specs := []spec{sp(fmt.Sprintf("f%d.w", i), dtype.BF16, 40, 24), sp(fmt.Sprintf("f%d.b", i), dtype.F32, 24)}
		files = append(files, writeFile(t, dir, fmt.Sprintf("%d.safetensors", i), uint64(10+i), specs))
	}
	set := load(t, files, device.On(s.Device(0), s.Device(1)), device.Shard("*.w", 1), device.WithChunkSize(4<<10), device.WithDType(dtype.F32))
	checkSet(t, set, files...)
	st := set.Stats()
	if st.Devices[0].Allocs != 3 || st.Devices[1].Allocs != 3 {
		t.Errorf("allocations: %+v", st.Devices)
	}
	if p, _ := set.Shard("f1.w", 1); p.Device != s.Device(1) || p.Shape[1] != 12 || p.DType != dtype.F32 {
		t.Errorf("f1.w shard 1: %+v", p)
	}
}

func TestLoadConvert(t *testing.T) {
	specs := []spec{sp("h", dtype.BF16, 33, 17), sp("g", dtype.F16, 100), sp("f", dtype.F32, 9, 9), sp("i", dtype.I16, 5), sp("u", dtype.U8, 3)}
	dir := t.TempDir()
	mapped := writeFile(t, dir, "c.safetensors", 6, specs)
	pread, err := loader.Open(mapped.Name(), loader.WithPread())
	if err != nil {
		t.Fatal(err)
	}
	defer pread.Close()
	for _, to := range []dtype.DType{dtype.F32, dtype.F16, dtype.BF16} {
		for _, f := range []*loader.File{mapped, pread} {
			for _, onCPU := range []bool{false, true} {
				name := fmt.Sprintf("%v/pread=%v/cpu=%v", to, mappingOf(f) == nil, onCPU)
				t.Run(name, func(t *testing.T) {
					s := install(t, 1, 1<<30, 100*time.Microsecond)
					dev := s.Device(0)
					if onCPU {
						dev = device.CPU()
					}
					set := load(t, []*loader.File{f}, device.On(dev), device.WithDType(to), device.WithChunkSize(4<<10))
					checkSet(t, set, f)
					for tn := range set.All() {
						want := to
						if !tn.Source.DType.Float() {
							want = tn.Source.DType
						}
						if tn.DType != want || tn.Len != (tn.Source.End-tn.Source.Begin)/int64(tn.Source.DType.Size())*int64(want.Size()) {
							t.Errorf("%s: %v, %d bytes", tn.Name, tn.DType, tn.Len)
						}
					}
				})
			}
		}
	}
}

// TestLoadManySmall loads an MoE-like file of many small tensors and
// checks that coalescing keeps the number of chunks at what the bytes
// need, not what the tensor count would.
func TestLoadManySmall(t *testing.T) {
	var specs []spec
	for l := range 4 {
		for e := range 150 {
			specs = append(specs, sp(fmt.Sprintf("model.layers.%d.mlp.experts.%d.w", l, e), dtype.BF16, 8, uint64(16+e%7*8)))
		}
	}
	install(t, 2, 1<<30, 50*time.Microsecond)
	f := writeFile(t, t.TempDir(), "moe.safetensors", 7, specs)
	chunk := 16 << 10
	set := load(t, []*loader.File{f}, device.OnAuto(), device.WithChunkSize(chunk))
	checkSet(t, set, f)
	st := set.Stats()
	if max := st.Bytes/int64(chunk) + 4; st.Chunks > max {
		t.Errorf("%d tensors, %d bytes in %d chunks; want at most %d", st.Tensors, st.Bytes, st.Chunks, max)
	}
}

func TestLoadCPU(t *testing.T) {
	dir := t.TempDir()
	mapped := writeFile(t, dir, "m.safetensors", 8, mixed())
	pread, err := loader.Open(mapped.Name(), loader.WithPread())
	if err != nil {
		t.Fatal(err)
	}
	defer pread.Close()
	set := load(t, []*loader.File{mapped})
	checkSet(t, set, mapped)
	for tn := range set.All() {
		if tn.Len > 0 && !inside(tn.Bytes(), mappingOf(mapped)) {
			t.Errorf("%s is not a view of the mapping", tn.Name)
		}
	}
	if st := set.Stats(); st.Copied != 0 || st.Bytes == 0 {
		t.Errorf("stats %+v", st)
	}
	for _, tt := range []struct {
		name string
		f    *loader.File
		opts []device.Option
	}{{"pread", pread, []device.Option{device.WithChunkSize(4 << 10)}}, {"WithCopy", mapped, []device.Option{device.WithCopy()}}} {
		t.Run(tt.name, func(t *testing.T) {
			set := load(t, []*loader.File{tt.f}, tt.opts...)
			checkSet(t, set, tt.f)
			for tn := range set.All() {
				if inside(tn.Bytes(), mappingOf(mapped)) {
					t.Errorf("%s is a view of the mapping", tn.Name)
				}
			}
			if st := set.Stats(); st.Copied != st.Bytes {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestLoadLeasesMapping: a Set's views of a mapping stay readable after
// the file is closed (the Set holds a lease until Set.Close; reading
// unmapped memory would crash the test), and a closed file does not load.
func TestLoadLeasesMapping(t *testing.T) {
	f := writeFile(t, t.TempDir(), "m.safetensors", 9, mixed())
	want := map[string][]byte{}
	for name, info := range f.Tensors() {
		b, err := info.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		want[name] = bytes.Clone(b)
	}
	set := load(t, []*loader.File{f})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for tn := range set.All() {
		if !bytes.Equal(tn.Bytes(), want[tn.Name]) {
			t.Errorf("%s: bytes differ after the file was closed", tn.Name)
		}
	}
	l := device.NewPlacer()
	defer l.Close()
	_, err := l.Load(context.Background(), device.Files(f))
	if !errors.Is(err, fs.ErrClosed) || loader.Kind(err) != "Closed" {
		t.Errorf("load of a closed file: %v", err)
	}
}

func TestLoadPinnedCap(t *testing.T) {
	s := install(t, 2, 1<<30, 500*time.Microsecond)
	f := writeFile(t, t.TempDir(), "m.safetensors", 9, mixed())
	set := load(t, []*loader.File{f}, device.On(s.Device(0), s.Device(1)), device.Shard("big", 1), device.WithChunkSize(4<<10), device.WithChunks(3), device.WithReaders(8))
	checkSet(t, set, f)
	if cap := int64(3 * 4 << 10); s.Counters().PeakPinned > cap || set.Stats().PeakPinned > cap {
		t.Errorf("pinned %d bytes, cap %d", s.Counters().PeakPinned, cap)
	}
	if n := s.Counters().HostAllocs; n > 3 {
		t.Errorf("%d pinned allocations for a ring of 3", n)
	}
}

func TestLoadCancel(t *testing.T) {
	s := install(t, 2, 1<<30, 2*time.Millisecond)
	f := writeFile(t, t.TempDir(), "m.safetensors", 10, mixed())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var calls atomic.Int64
	progress := func(done, total int64) {
		calls.Add(1)
		if done > 0 {
			cancel()
		}
	}
	_, err := device.Load(ctx, device.Files(f), device.On(s.Device(0), s.Device(1)), device.Shard("big", 1),
		device.WithChunkSize(4<<10), device.WithChunks(4), device.WithProgress(progress, time.Millisecond))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v; want context.Canceled", err)
	}
	if calls.Load() == 0 {
		t.Error("progress never called")
	}
	// Canceled before it starts.
	_, err = device.Load(ctx, device.Files(f), device.On(s.Device(0)))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v; want context.Canceled", err)
	}
	// devicetest checks at cleanup that everything was released.
}

// TestLoadFaults injects a failure into every backend call a load makes,
// early and late: the load must fail with an error that says what and
// where, return no Set with it, and free everything it allocated (the
// simulated backend checks at the end of each test). Allocations that fail
// are out of memory, which errors.Is and loader.Kind must see.
func TestLoadFaults(t *testing.T) {
	for _, tt := range []struct {
		name   string
		faults devicetest.Faults
		reg    bool // WithRegister
		words  []string
		oom    bool
	}{
		{"open", devicetest.Faults{Open: 1}, false, []string{"open", "injected"}, false},
		{"open second device", devicetest.Faults{Open: 2}, false, []string{"open", "injected"}, false},
		{"stream", devicetest.Faults{Stream: 3}, false, []string{"create stream", "injected"}, false},
		{"first copy", devicetest.Faults{Copy: 1}, false, []string{"copy", "tensor \"", "injected"}, false},
		{"later copy", devicetest.Faults{Copy: 7}, false, []string{"copy", "tensor \"", "injected"}, false},
		{"record", devicetest.Faults{Record: 4}, false, []string{"copy", "record event", "injected"}, false},
		{"event", devicetest.Faults{Wait: 5}, false, []string{"copy", "tensor \"", "injected"}, false},
		{"first alloc", devicetest.Faults{Alloc: 1}, false, []string{"alloc", "m.safetensors", "injected"}, true},
		{"later alloc", devicetest.Faults{Alloc: 2}, false, []string{"alloc", "m.safetensors", "injected"}, true},
		{"first pinned buffer", devicetest.Faults{AllocHost: 1}, false, []string{"pinned", "injected"}, true},
		{"later pinned buffer", devicetest.Faults{AllocHost: 2}, false, []string{"pinned", "injected"}, true},
		{"register", devicetest.Faults{Register: 3}, true, []string{"register mapping", "injected"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := devicetest.Install(t, devicetest.Options{GPUs: 2, Delay: 300 * time.Microsecond, FailAt: tt.faults})
			f := writeFile(t, t.TempDir(), "m.safetensors", 11, mixed())
			opts := []device.Option{device.On(s.Device(0), s.Device(1)), device.Shard("big", 1),
				device.WithChunkSize(4 << 10), device.WithChunks(4)}
			if tt.reg {
				opts = append(opts, device.WithRegister())
			}
			set, err := device.Load(t.Context(), device.Files(f), opts...)
			if err == nil || set != nil {
				t.Fatalf("load = %v, %v; want only an error", set, err)
			}
			t.Log(err)
			for _, w := range append(tt.words, s.Name()+":") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if oom := errors.Is(err, device.ErrOutOfMemory); oom != tt.oom || (loader.Kind(err) == "OutOfMemory") != tt.oom {
				t.Errorf("out of memory: errors.Is %v, kind %q; want %v", oom, loader.Kind(err), tt.oom)
			}
		})
	}
	t.Run("plan does not fit", func(t *testing.T) {
		s := install(t, 2, 1<<30, 0)
		s.SetFree(1, 100)
		f := writeFile(t, t.TempDir(), "m.safetensors", 11, mixed())
		_, err := device.Load(t.Context(), device.Files(f), device.On(s.Device(0), s.Device(1)), device.Shard("big", 1))
		if !errors.Is(err, device.ErrOutOfMemory) || loader.Kind(err) != "OutOfMemory" || !strings.Contains(err.Error(), "are free: out of memory") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestPlacerReuse(t *testing.T) {
	s := install(t, 1, 1<<30, 100*time.Microsecond)
	f := writeFile(t, t.TempDir(), "m.safetensors", 12, mixed())
	l := device.NewPlacer(device.On(s.Device(0)), device.WithChunkSize(4<<10), device.WithChunks(4))
	var sets []*device.Set
	for range 3 {
		set, err := l.Load(t.Context(), device.Files(f))
		if err != nil {
			t.Fatal(err)
		}
		checkSet(t, set, f)
		sets = append(sets, set)
	}
	if n := s.Counters().HostAllocs; n > 4 {
		t.Errorf("%d pinned allocations over 3 loads with a ring of 4", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(t.Context(), device.Files(f)); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("load after Close: %v", err)
	}
	// The sets outlive the Placer; the device closes with the last of them.
	for _, set := range sets {
		if err := set.Verify(t.Context()); err != nil {
			t.Error(err)
		}
		if err := set.Close(); err != nil {
			t.Error(err)
		}
	}
	if err := sets[0].Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestVerifyFindsCorruption(t *testing.T) {
	s := install(t, 1, 1<<30, 0)
	f := writeFile(t, t.TempDir(), "m.safetensors", 13, mixed())
	set := load(t, []*loader.File{f}, device.On(s.Device(0)))
	if err := set.Verify(t.Context()); err != nil {
		t.Fatal(err)
	}
	big, _ := set.Tensor("big")
	s.Bytes(big.Memory)[big.Offset+1234] ^= 0x40
	err := set.Verify(t.Context())
	if !errors.Is(err, device.ErrMismatch) || !strings.Contains(err.Error(), "big@"+s.Name()+":0") {
		t.Errorf("Verify after corruption: %v", err)
	}
}

func TestLoadProgress(t *testing.T) {
	s := install(t, 1, 1<<30, 200*time.Microsecond)
	f := writeFile(t, t.TempDir(), "m.safetensors", 14, mixed())
	var calls [][2]int64
	progress := func(done, total int64) { calls = append(calls, [2]int64{done, total}) }
	set := load(t, []*loader.File{f}, device.On(s.Device(0)), device.WithChunkSize(4<<10), device.WithChunks(2),
		device.WithProgress(progress, time.Millisecond))
	last := calls[len(calls)-1]
	if last[0] != last[1] || last[1] != set.Stats().Copied {
		t.Errorf("last progress %v, copied %d", last, set.Stats().Copied)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] < calls[i-1][0] {
			t.Errorf("progress went back: %v", calls)
		}
	}
}

func TestLoadEmpty(t *testing.T) {
	s := install(t, 1, 1<<30, 0)
	f := writeFile(t, t.TempDir(), "e.safetensors", 15, nil)
	g := writeFile(t, t.TempDir(), "z.safetensors", 16, []spec{sp("z", dtype.F32, 0), sp("y", dtype.BF16, 3, 0)})
	set := load(t, []*loader.File{f, g}, device.On(s.Device(0)), device.WithDType(dtype.F32))
	checkSet(t, set, f, g)
	if set.Len() != 2 || set.Stats().Copied != 0 {
		t.Errorf("set of %d tensors, %+v", set.Len(), set.Stats())
	}
}

// TestLoadRegister copies straight from page-locked windows of the mapping:
// the bytes land right, at most chunks windows are locked at a time, no
// staging memory is pinned, windows never overlap (the sim refuses
// overlapping or unaligned registrations), and every one is released. A
// file that needs conversion or is read with pread falls back to staging.
func TestLoadRegister(t *testing.T) {
	dir := t.TempDir()
	specs := append(mixed(), sp("cols", dtype.F32, 37, 50), sp("rows", dtype.BF16, 50, 37))
	mapped := writeFile(t, dir, "r.safetensors", 11, specs)
	pread, err := loader.Open(mapped.Name(), loader.WithPread())
	if err != nil {
		t.Fatal(err)
	}
	defer pread.Close()
	for _, tt := range []struct {
		name    string
		file    *loader.File
		opts    func(s *devicetest.Backend) []device.Option
		staging bool
	}{
		{"windows of 8 KiB", mapped, func(*devicetest.Backend) []device.Option {
			return []device.Option{device.WithChunkSize(8 << 10), device.WithChunks(3)}
		}, false},
		{"one window", mapped, func(*devicetest.Backend) []device.Option { return nil }, false},
		{"column and row splits over two devices and the CPU", mapped, func(s *devicetest.Backend) []device.Option {
			return []device.Option{device.WithChunkSize(8 << 10), device.Shard("cols", 1, s.Device(0), device.CPU(), s.Device(1)), device.Shard("rows", 0, s.Device(1), s.Device(0))}
		}, false},
		{"conversion stages", mapped, func(*devicetest.Backend) []device.Option { return []device.Option{device.WithDType(dtype.F32)} }, true},
		{"pread stages", pread, func(*devicetest.Backend) []device.Option { return nil }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := install(t, 2, 1<<30, 300*time.Microsecond)
			opts := append([]device.Option{device.On(s.Device(0)), device.WithRegister()}, tt.opts(s)...)
			set := load(t, []*loader.File{tt.file}, opts...)
			checkSet(t, set, tt.file)
			st := set.Stats()
			if tt.staging {
				if c := s.Counters(); st.PeakLocked != 0 || c.PeakLocked != 0 {
					t.Errorf("locked %d bytes of the mapping; this load must stage", c.PeakLocked)
				}
				return
			}
			c := s.Counters()
			if st.PeakPinned != 0 || c.PeakPinned != 0 {
				t.Errorf("pinned %d bytes for staging", c.PeakPinned)
			}
			g, _ := device.GeometryOf(opts...)
			window := (int64(g.ChunkSize) + device.PageSize - 1) / device.PageSize * device.PageSize
			if st.PeakLocked == 0 || c.PeakLocked > int64(g.Chunks)*window {
				t.Errorf("locked at most %d (stats %d), cap %d", c.PeakLocked, st.PeakLocked, int64(g.Chunks)*window)
			}
		})
	}
}

// TestLoadDuplicateTarget names a target device twice: that is the one
// device, not a balance across it and itself.
func TestLoadDuplicateTarget(t *testing.T) {
	f := writeFile(t, t.TempDir(), "m.safetensors", 11, layered(4, dtype.F32, 16))
	files := []*loader.File{f}

	// The CPU twice (as --device cpu,cpu parses) is the CPU: before, this
	// failed with "cannot balance across the CPU and accelerators".
	devs, err := device.ParseDevices("cpu,cpu")
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]device.Option{{device.On(devs...)}, {device.On(device.CPU(), device.Device{Backend: "cpu"}), device.WithCopy()}} {
		set := load(t, files, opts...)
		checkSet(t, set, f)
		if st := set.Stats(); len(st.Devices) != 1 || !st.Devices[0].Device.IsCPU() || st.Devices[0].Tensors != tensorCount(f) {
			t.Errorf("devices: %+v", st.Devices)
		}
	}

	// An accelerator twice: a Shard rule without devices splits across the
	// target, so it makes one part, not two parts on the same device.
	s := install(t, 2, 1<<30, 0)
	set := load(t, files, device.On(s.Device(1), s.Device(1)), device.Shard("*.up_proj.weight", 1))
	checkSet(t, set, f)
	if parts := set.Parts("model.layers.2.mlp.up_proj.weight"); len(parts) != 1 || parts[0].Shards != 1 || parts[0].Device != s.Device(1) {
		t.Errorf("parts: %+v", parts)
	}
	if st := set.Stats(); len(st.Devices) != 1 || st.Devices[0].Device != s.Device(1) || st.Devices[0].Allocs != 1 {
		t.Errorf("devices: %+v", st.Devices)
	}

}

// TestDeviceStatsCopied checks the bytes counted as copied per device, and
// that a device's rate counts them only: zero-copy CPU views are no
// transfer.
func TestDeviceStatsCopied(t *testing.T) {
	f := writeFile(t, t.TempDir(), "m.safetensors", 12, layered(3, dtype.F32, 16))
	s := install(t, 1, 1<<30, 0)
	// Column parts of a mapped file on the CPU are copies, row parts views.
	cols := device.Shard("*.up_proj.weight", 1, device.CPU(), device.CPU())
	var colBytes int64
	for name, info := range f.Tensors() {
		if strings.HasSuffix(name, ".up_proj.weight") {
			colBytes += info.End - info.Begin
		}
	}
	for _, tt := range []struct {
		name   string
		opts   []device.Option
		copied []int64 // per device; -1: all of the device's bytes
	}{
		{"views", []device.Option{device.On(device.CPU())}, []int64{0}},
		{"copy", []device.Option{device.On(device.CPU()), device.WithCopy()}, []int64{-1}},
		{"views and copies", []device.Option{device.On(device.CPU()), cols}, []int64{colBytes}},
		{"accelerator and views", []device.Option{device.On(s.Device(0)), device.Map("model.norm.weight", device.CPU())}, []int64{-1, 0}},
		{"accelerator and copies", []device.Option{device.On(s.Device(0)), cols}, []int64{-1, colBytes}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			set := load(t, []*loader.File{f}, tt.opts...)
			st := set.Stats()
			if len(st.Devices) != len(tt.copied) {
				t.Fatalf("devices: %+v", st.Devices)
			}
			var sum int64
			for i, d := range st.Devices {
				want := tt.copied[i]
				if want < 0 {
					want = d.Bytes
				}
				if d.Copied != want || d.Bytes == 0 {
					t.Errorf("%s: copied %d of %d bytes, want %d", d.Device, d.Copied, d.Bytes, want)
				}
				if got := d.GBps(); (got > 0) != (want > 0) || got != float64(d.Copied)/d.Elapsed.Seconds()/1e9 {
					t.Errorf("%s: GBps %g for %d bytes copied in %v", d.Device, got, d.Copied, d.Elapsed)
				}
				sum += d.Copied
			}
			if sum != st.Copied {
				t.Errorf("devices copied %d bytes in all, the load %d", sum, st.Copied)
			}
		})
	}
}

// TestLoadCheckpoint loads what checkpoint.Open returns, a sharded
// checkpoint of several files, as a Source, onto two simulated devices.
func TestLoadCheckpoint(t *testing.T) {
	f := writeFile(t, t.TempDir(), "m.safetensors", 21, layered(6, dtype.BF16, 64))
	one, err := checkpoint.Open(t.Context(), f.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	dir := t.TempDir()
	if _, err := checkpoint.Save(t.Context(), dir, one.Sources(), checkpoint.WithMaxShardSize(8<<10)); err != nil {
		t.Fatal(err)
	}
	c, err := checkpoint.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Files()) < 3 {
		t.Fatalf("%d shards; the test wants several", len(c.Files()))
	}
	s := install(t, 2, 1<<30, 0)
	set, err := device.Load(t.Context(), c, device.OnAuto())
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	checkSet(t, set, c.Files()...)
	if set.Len() != c.Len() || len(set.Stats().Devices) != 2 || set.Stats().Devices[1].Device != s.Device(1) {
		t.Errorf("%d of %d tensors, devices %+v", set.Len(), c.Len(), set.Stats().Devices)
	}
}

// TestLoadSubset loads chosen tensors by name and by predicate: only they
// are placed (and read: the bytes copied are theirs), a name the source
// lacks is a TensorNotFound error, and the options combine.
func TestLoadSubset(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "a.safetensors", 22, layered(3, dtype.F32, 16))
	g := writeFile(t, dir, "b.safetensors", 23, []spec{sp("extra.weight", dtype.BF16, 4, 4), sp("extra.bias", dtype.F32, 4)})
	src := device.Files(f, g)
	s := install(t, 1, 1<<30, 0)
	size := func(names ...string) int64 {
		var n int64
		for _, file := range []*loader.File{f, g} {
			for name, tn := range file.Tensors() {
				if slices.Contains(names, name) {
					n += tn.End - tn.Begin
				}
			}
		}
		return n
	}
	names := func(set *device.Set) []string {
		var out []string
		for tn := range set.All() {
			out = append(out, tn.Name)
		}
		slices.Sort(out)
		return out
	}
	for _, tt := range []struct {
		name string
		opts []device.Option
		want []string
	}{
		{"only", []device.Option{device.Only("model.norm.weight", "extra.bias")}, []string{"extra.bias", "model.norm.weight"}},
		{"select", []device.Option{device.Select(func(n string) bool { return strings.HasPrefix(n, "model.layers.1.") })},
			[]string{"model.layers.1.input_layernorm.weight", "model.layers.1.mlp.up_proj.weight", "model.layers.1.self_attn.q_proj.weight"}},
		{"both", []device.Option{device.Only("extra.weight", "lm_head.weight"), device.Select(func(n string) bool { return strings.HasPrefix(n, "extra.") })},
			[]string{"extra.weight"}},
		{"none", []device.Option{device.Select(func(string) bool { return false })}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			set, err := device.Load(t.Context(), src, append(tt.opts, device.On(s.Device(0)))...)
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			if got := names(set); !slices.Equal(got, tt.want) {
				t.Errorf("loaded %v, want %v", got, tt.want)
			}
			// Found by name in either file, and only when loaded.
			for _, file := range []*loader.File{f, g} {
				for name := range file.Tensors() {
					tn, ok := set.Tensor(name)
					if ok != slices.Contains(tt.want, name) || ok && (tn.Name != name || tn.Source.Name != name) {
						t.Errorf("Tensor(%q) = %v, %v", name, tn, ok)
					}
				}
			}
			if st := set.Stats(); st.Copied != size(tt.want...) {
				t.Errorf("copied %d bytes, the selected tensors have %d", st.Copied, size(tt.want...))
			}
			if err := set.Verify(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	_, err := device.Load(t.Context(), src, device.Only("model.norm.weight", "no.such.tensor"))
	if !errors.Is(err, loader.ErrTensorNotFound) || loader.Kind(err) != "TensorNotFound" || !strings.Contains(err.Error(), `"no.such.tensor"`) {
		t.Errorf("unknown name: %v (kind %q)", err, loader.Kind(err))
	}
	if _, err := device.Load(t.Context(), src, device.Select(nil)); !errors.Is(err, device.ErrPlacement) {
		t.Errorf("Select(nil): %v", err)
	}
}
