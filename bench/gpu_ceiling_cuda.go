//go:build cuda

package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stload/stload/device"
)

// sizeList parses "4MiB,256MiB".
func sizeList(v string) ([]int64, error) { return parseList(v, ParseSize) }

// gpuCeilings measures what one GPU and this host allow, as step 1 of the
// protocol asks: pinned and pageable host-to-device bandwidth over sizes
// and stream counts, page-cache pread into pinned buffers, and what
// pinning, registering and allocating cost.
type gpuCeilings struct {
	a        device.Accelerator
	index    int // a's ordinal, for measureH2D
	rounds   int
	perRun   int64
	out      io.Writer
	figures  []*Figure
	problems []string
}

func (g *gpuCeilings) emit(f *Figure) error {
	f.summarize()
	g.figures = append(g.figures, f)
	return jsonLine(g.out, figureLine{"figure", f})
}

// h2d measures copies of src (pinned or pageable, as what says).
func (g *gpuCeilings) h2d(what string, src []byte, streams int) error {
	iters := int(max(2, g.perRun/int64(len(src))))
	f := &Figure{Group: "gpu-ceiling", Impl: "ceiling", Threads: streams, Bytes: int64(len(src)) * int64(iters),
		Name: fmt.Sprintf("%s H2D %s × %d, %d stream(s)", what, fmtBytes(int64(len(src))), iters, streams)}
	for range g.rounds {
		rate, err := measureH2D(g.index, src, iters, streams)
		if err != nil {
			return err
		}
		f.Runs = append(f.Runs, float64(f.Bytes)/rate)
	}
	return g.emit(f)
}

// cost times one call that pins, registers or allocates n bytes.
func (g *gpuCeilings) cost(name string, n int64, fn func() error) error {
	start := time.Now()
	err := fn()
	f := &Figure{Group: "gpu-cost", Impl: "ceiling", Threads: 1, Bytes: n, Name: name,
		Runs: []float64{time.Since(start).Seconds()}}
	if err != nil {
		g.problems = append(g.problems, fmt.Sprintf("%s: %v", name, err))
		f.Note = "failed: " + err.Error()
	}
	return g.emit(f)
}

func cmdGPUCeiling(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gpu-ceiling")
	var f ceilingFlags
	f.define(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	l, err := f.lists()
	if err != nil {
		return usageError{err}
	}
	b, err := cudaBackend()
	if err != nil {
		return err
	}
	a, err := b.Open(f.index)
	if err != nil {
		return err
	}
	defer a.Close()
	reg, ok := a.(device.Registrar)
	if !ok {
		return errors.New("the cuda backend cannot page-lock memory in place")
	}
	g := &gpuCeilings{a: a, index: f.index, rounds: max(1, f.rounds), perRun: int64(f.perRun), out: stdout}
	if err := g.pinned(l.sizes, l.streams); err != nil {
		return err
	}
	if err := g.pageable(l.psizes, l.streams); err != nil {
		return err
	}
	if f.file != "" {
		if err := g.fileCeilings(f.file, l.threads, int64(f.preadBytes), f.shift, int64(f.regFile)); err != nil {
			return err
		}
	}
	if len(l.contention) > 0 {
		if err := g.contention(f.file, l.contention, int64(f.contentionBytes)); err != nil {
			return err
		}
	}
	for _, s := range l.csizes {
		if err := g.hostCosts(reg, s); err != nil {
			return err
		}
	}
	if f.devAlloc > 0 {
		if err := g.devAllocCost(int64(f.devAlloc)); err != nil {
			return err
		}
	}
	for _, p := range g.problems {
		fmt.Fprintln(stderr, "gpu-ceiling:", p)
	}
	return nil
}

// ceilingLists are gpu-ceiling's list flags, parsed.
type ceilingLists struct {
	sizes, psizes, csizes        []int64
	streams, threads, contention []int
}

// lists parses the list flags; an error is a usage error.
func (f *ceilingFlags) lists() (ceilingLists, error) {
	var l ceilingLists
	var err error
	if l.sizes, err = sizeList(f.pinnedSizes); err != nil {
		return l, err
	}
	if l.psizes, err = sizeList(f.pageableSizes); err != nil {
		return l, err
	}
	if l.csizes, err = sizeList(f.costSizes); err != nil {
		return l, err
	}
	if l.streams, err = intList(f.streams); err != nil {
		return l, err
	}
	if l.threads, err = intList(f.threads); err != nil {
		return l, err
	}
	if f.contention != "" {
		if l.contention, err = intList(f.contention); err != nil {
			return l, err
		}
		if f.file == "" {
			return l, errors.New("-contention needs -file")
		}
	}
	return l, nil
}

// pinned measures pinned H2D: one buffer of the largest size, measured
// through prefixes.
func (g *gpuCeilings) pinned(sizes []int64, streams []int) error {
	largest := int64(0)
	for _, s := range sizes {
		largest = max(largest, s)
	}
	if largest <= 0 {
		return nil
	}
	hm, err := g.a.AllocHost(int(largest))
	if err != nil {
		return err
	}
	defer hm.Free()
	buf := hm.Bytes()
	FillParallel(buf, 17, 0, 0)
	for _, s := range sizes {
		for _, k := range streams {
			if err := g.h2d("pinned", buf[:s], k); err != nil {
				return err
			}
		}
	}
	return nil
}

// pageable measures pageable H2D: Go memory, touched, which the driver
// stages itself.
func (g *gpuCeilings) pageable(sizes []int64, streams []int) error {
	for _, s := range sizes {
		buf := touchedBuffers(1, int(s))[0]
		FillParallel(buf, 19, 0, 0)
		for _, k := range streams {
			if err := g.h2d("pageable", buf, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// hostCosts times pinning s bytes of new memory and freeing it, and
// registering s bytes of touched anonymous memory.
func (g *gpuCeilings) hostCosts(reg device.Registrar, s int64) error {
	var hm device.HostMemory
	if err := g.cost(fmt.Sprintf("cuMemHostAlloc %s (pin new memory)", fmtBytes(s)), s, func() (err error) {
		hm, err = g.a.AllocHost(int(s))
		return err
	}); err != nil {
		return err
	}
	if hm != nil {
		if err := g.cost(fmt.Sprintf("cuMemFreeHost %s", fmtBytes(s)), s, hm.Free); err != nil {
			return err
		}
	}
	mem, err := unix.Mmap(-1, 0, int(s), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return err
	}
	touch(mem)
	var locked device.HostMemory
	if err := g.cost(fmt.Sprintf("cuMemHostRegister READ_ONLY|PORTABLE %s (touched anonymous memory)", fmtBytes(s)), s, func() (err error) {
		locked, err = reg.RegisterReadOnly(mem)
		return err
	}); err != nil {
		return err
	}
	if locked != nil {
		locked.Free()
	}
	unix.Munmap(mem)
	return nil
}

// devAllocCost times one device allocation of n bytes.
func (g *gpuCeilings) devAllocCost(n int64) error {
	var m device.Memory
	if err := g.cost(fmt.Sprintf("cuMemAlloc %s", fmtBytes(n)), n, func() (err error) {
		m, err = g.a.Alloc(n)
		return err
	}); err != nil {
		return err
	}
	if m != nil {
		m.Free()
	}
	return nil
}

// fileCeilings measures C_pc(N), pread of a page-cached file into pinned
// buffers from N goroutines, and the cost of registering the file's
// mapping read-only (the stretch design's zero-copy path).
func (g *gpuCeilings) fileCeilings(path string, threads []int, preadBytes, shift, regBytes int64) error {
	f, fi, err := openStat(path)
	if err != nil {
		return err
	}
	defer f.Close()
	maxT := 0
	for _, t := range threads {
		maxT = max(maxT, t)
	}
	hm, err := g.a.AllocHost(maxT * ceilingChunk)
	if err != nil {
		return err
	}
	defer hm.Free()
	all := hm.Bytes()
	var cs []*contender
	for _, t := range threads {
		bufs := make([][]byte, t)
		for i := range bufs {
			bufs[i] = all[i*ceilingChunk : (i+1)*ceilingChunk]
		}
		cs = append(cs, preadInto("gpu-ceiling", "pinned buffers", f, min(fi.Size(), preadBytes), bufs))
	}
	if shift > 0 {
		// The misaligned-destination case that costs 5× on AMD Zen 3
		// (see preadShifted), beside the aligned 1-goroutine figure.
		cs = append(cs, preadShifted("gpu-ceiling", f, min(fi.Size(), 2<<30), shift))
	}
	if err := interleave(g.rounds, cs...); err != nil {
		return err
	}
	for _, c := range cs {
		if err := g.emit(c.fig); err != nil {
			return err
		}
	}
	if regBytes <= 0 {
		return nil
	}
	return g.registerFile(f, min(regBytes, fi.Size()))
}

// registerFile times registering the first n bytes of f's mapping
// read-only (rounded down to pages), then copies from it.
func (g *gpuCeilings) registerFile(f *os.File, n int64) error {
	// A device without read-only registration fails the timed call, which
	// cost records as a problem.
	n &^= 4095
	m, err := unix.Mmap(int(f.Fd()), 0, int(n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	defer unix.Munmap(m)
	var reg device.HostMemory
	if err := g.cost(fmt.Sprintf("cuMemHostRegister READ_ONLY|PORTABLE %s of the file's mapping", fmtBytes(n)), n, func() (err error) {
		reg, err = g.a.(device.Registrar).RegisterReadOnly(m)
		return err
	}); err != nil {
		return err
	}
	if reg == nil {
		return nil
	}
	defer reg.Free()
	// Copying straight from the registered mapping shows what removing the
	// staging pass would gain.
	return g.h2d("registered file mapping", m, 2)
}
