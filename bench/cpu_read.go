package bench

import (
	"fmt"
	"os"
	"slices"

	nlp "github.com/nlpodyssey/safetensors"

	"github.com/stload/stload/loader"
)

// readPieceSize bounds one ReadAt of the multi-goroutine readers, so that
// one large tensor (the embeddings are 6% of the file) is spread over all
// goroutines instead of holding one of them while the others idle.
const readPieceSize = 8 << 20

// span is a byte range of a file.
type span struct{ off, n int64 }

// tensorSpans returns the file's tensors as byte ranges of at most limit
// bytes each (limit <= 0: whole tensors), in file order.
func tensorSpans(f *loader.File, limit int64) []span {
	var out []span
	for _, t := range f.Tensors() {
		off, n := t.Offset(), t.End-t.Begin
		for n > 0 {
			k := n
			if limit > 0 {
				k = min(n, limit)
			}
			out = append(out, span{off, k})
			off, n = off+k, n-k
		}
	}
	return out
}

// read times reading every tensor byte of a page-cached Llama-shaped file:
// stload's pread and mmap paths into reused buffers, its zero-copy mapping,
// nlpodyssey's natural path, the allocation such a path pays, and the
// pread and copy() ceilings of the same run.
func (s *cpuSuite) read() error {
	r, err := s.readSetup()
	if err != nil {
		return err
	}
	defer r.osf.Close()
	c := r.contenders()
	cs := c.all
	s.logf("read: %d contenders × %d rounds", len(cs), s.o.Rounds)
	if err := interleave(s.o.Rounds, cs...); err != nil {
		return err
	}
	for _, c := range cs {
		s.add(c.fig)
	}
	s.rep.Ratios = append(s.rep.Ratios, c.ratios()...)
	return nil
}

// readBench is what the read group's contenders share: the warmed file
// and the buffers they read into.
type readBench struct {
	s    *cpuSuite
	path string
	gf   GenFile
	osf  *os.File // for the pread ceilings; the caller closes it
	// big is as large as the largest tensor; pieces holds one
	// readPieceSize buffer per goroutine.
	big    []byte
	pieces [][]byte
}

// readSetup generates and warms the read group's file, notes how much of
// it the page cache holds, and allocates the readers' buffers.
func (s *cpuSuite) readSetup() (*readBench, error) {
	path := s.filePath(fmt.Sprintf("llama-%s.safetensors", sizeTag(s.o.ReadSize)))
	gf, err := s.generate(GenRequest{Kind: KindLlama, Size: s.o.ReadSize, Out: path})
	if err != nil {
		return nil, err
	}
	w, err := Warm(path, s.o.Threads)
	if err != nil {
		return nil, err
	}
	s.logf("warm: %s resident %.3f", fmtBytes(w.Bytes), w.Resident)
	s.rep.Notes = append(s.rep.Notes, fmt.Sprintf("read: %s file (%d tensors), %.1f%% of its pages in the page cache before timing (mincore)",
		fmtBytes(gf.Bytes), gf.Tensors, 100*w.Resident))
	largest, err := largestTensor(path)
	if err != nil {
		return nil, err
	}
	osf, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &readBench{s: s, path: path, gf: gf, osf: osf,
		big: touchedBuffers(1, int(largest))[0], pieces: touchedBuffers(s.o.Threads, readPieceSize)}, nil
}

// largestTensor returns the byte length of the file's largest tensor.
func largestTensor(path string) (int64, error) {
	probe, err := loader.Open(path, loader.WithPread())
	if err != nil {
		return 0, err
	}
	defer probe.Close()
	var largest int64
	for _, t := range probe.Tensors() {
		largest = max(largest, t.End-t.Begin)
	}
	return largest, nil
}

// fig returns a read figure of the file's tensors.
func (r *readBench) fig(impl, name string, threads int, bytes int64) *Figure {
	return &Figure{Group: "read", Impl: impl, Threads: threads, Bytes: bytes, Tensors: r.gf.Tensors, Name: name}
}

// serial is stload from one goroutine: every tensor whole, into one
// buffer sized to the largest tensor and reused.
func (r *readBench) serial(name string, opts ...loader.Option) *contender {
	return &contender{fig: r.fig("stload", name, 1, r.gf.Payload), run: func() error {
		f, err := loader.Open(r.path, opts...)
		if err != nil {
			return err
		}
		defer f.Close()
		for _, t := range f.Tensors() {
			if _, err := f.ReadAt(r.big[:(t.End-t.Begin)], t.Offset()); err != nil {
				return err
			}
		}
		return nil
	}}
}

// par is stload from t goroutines: tensors cut in 8 MiB pieces taken in
// order.
func (r *readBench) par(t int, name string, opts ...loader.Option) *contender {
	return &contender{fig: r.fig("stload", name, t, r.gf.Payload), run: func() error {
		f, err := loader.Open(r.path, opts...)
		if err != nil {
			return err
		}
		defer f.Close()
		sp := tensorSpans(f, readPieceSize)
		return parallel(t, len(sp), func(w, i int) error {
			_, err := f.ReadAt(r.pieces[w][:sp[i].n], sp[i].off)
			return err
		})
	}}
}

// touchAll is stload from one goroutine: every tensor through
// Tensor.Bytes (a view of the mapping, or with WithPread a fresh copy),
// one byte read per page.
func (r *readBench) touchAll(name string, opts ...loader.Option) *contender {
	return &contender{fig: r.fig("stload", name, 1, r.gf.Payload), run: func() error {
		f, err := loader.Open(r.path, opts...)
		if err != nil {
			return err
		}
		defer f.Close()
		for key := range f.Tensors() {
			t, err := f.Tensor(key)
			if err != nil {
				return err
			}
			b, err := t.Bytes()
			if err != nil {
				return err
			}
			r.s.sink += readTouch(b)
		}
		return nil
	}}
}

// peer is nlpodyssey's natural path: the whole file read, then parsed.
func (r *readBench) peer() *contender {
	c := &contender{fig: r.fig("nlpodyssey", "os.ReadFile + Deserialize + Tensors()[i].Data(), 1 byte per page read", 1, r.gf.Payload),
		run: func() error {
			b, err := os.ReadFile(r.path)
			if err != nil {
				return err
			}
			st, err := nlp.Deserialize(b)
			if err != nil {
				return err
			}
			for _, t := range st.Tensors() {
				r.s.sink += readTouch(t.TensorView.Data())
			}
			return nil
		}}
	c.fig.Note = "its natural path; allocates the whole file: see the alloc line"
	return c
}

// alloc is what a reader that allocates its destination pays before it
// reads a byte.
func (r *readBench) alloc() *contender {
	n := r.gf.Bytes
	return &contender{fig: &Figure{Group: "read", Impl: "alloc", Threads: 1, Bytes: n,
		Name: fmt.Sprintf("make([]byte, %s) + first write to each page (fresh pages, no read)", fmtBytes(n)),
		Note: "what a reader that allocates its destination pays before reading a byte"},
		run: func() error {
			b := make([]byte, n)
			touch(b)
			r.s.sink += b[len(b)-1]
			return nil
		}}
}

// readContenders are the read group's contenders by role, for the
// ratios. With one goroutine the N-goroutine ones are the 1-goroutine
// ones.
type readContenders struct {
	threads                int
	stPread1, stMmap1      *contender
	stPreadN, stMmapN      *contender
	stWhole1, stMmapWhole1 *contender
	stTouch, stBytes       *contender
	peer, alloc, shifted   *contender
	preads                 []*contender // by threadCounts
	copy1, copyN           *contender
	all                    []*contender // in the order they run
}

// contenders builds the read group's contenders.
func (r *readBench) contenders() *readContenders {
	T := r.s.o.Threads
	c := &readContenders{threads: T}
	// Whole tensors land in a buffer as large as the largest tensor (the
	// embeddings), far beyond the caches, so every byte is written back to
	// DRAM; 8 MiB pieces reuse a buffer that stays in the last-level cache,
	// as the ceilings' do and as a staging loader's does. The goals are
	// judged on the pieces, the same access pattern as the ceilings.
	c.stWhole1 = r.serial("loader.Open(WithPread) + File.ReadAt each whole tensor → one reused buffer", loader.WithPread())
	c.stWhole1.fig.Note = "buffer of the largest tensor: writes go to DRAM"
	c.stMmapWhole1 = r.serial("loader.Open (mmap) + File.ReadAt each whole tensor → one reused buffer")
	c.stMmapWhole1.fig.Note = c.stWhole1.fig.Note
	c.stPread1 = r.par(1, "loader.Open(WithPread) + File.ReadAt 8 MiB pieces → reused buffer", loader.WithPread())
	c.stMmap1 = r.par(1, "loader.Open (mmap) + File.ReadAt 8 MiB pieces → reused buffer (copy from the mapping)")
	c.stPreadN = r.par(T, "loader.Open(WithPread) + File.ReadAt 8 MiB pieces → reused buffers", loader.WithPread())
	c.stMmapN = r.par(T, "loader.Open (mmap) + File.ReadAt 8 MiB pieces → reused buffers (copy from the mapping)")
	c.stTouch = r.touchAll("loader.Open (mmap) + Tensor.Bytes, zero-copy, read 1 byte per 4 KiB page")
	c.stTouch.fig.Note = "maps pages, copies nothing: page-fault cost of a fresh mapping"
	c.stBytes = r.touchAll("loader.Open(WithPread) + Tensor.Bytes (allocates each tensor)", loader.WithPread())
	c.stBytes.fig.Note = "includes the allocator: see the alloc line"
	c.peer, c.alloc = r.peer(), r.alloc()
	c.all = []*contender{c.stPread1, c.stMmap1, c.stPreadN, c.stMmapN, c.stWhole1, c.stMmapWhole1, c.stTouch, c.stBytes, c.peer, c.alloc}
	r.ceilings(c)
	return c
}

// ceilings adds the same-run pread and copy() ceilings to c.
func (r *readBench) ceilings(c *readContenders) {
	T, size := c.threads, r.gf.Bytes
	for _, t := range threadCounts(T) {
		p := preadCeiling("read", r.osf, size, t)
		p.fig.Bytes = size
		c.preads = append(c.preads, p)
	}
	c.shifted = preadShifted("read", r.osf, size, 4088)
	c.all = append(c.all, c.shifted)
	c.copy1 = memcpyCeiling("read", int(r.s.o.CopySize), 1)
	c.copyN = memcpyCeiling("read", int(r.s.o.CopySize), T)
	c.all = append(c.all, c.preads...)
	c.all = append(c.all, c.copy1, c.copyN)
	if T == 1 { // the N-goroutine contenders would repeat the 1-goroutine ones
		c.all = slices.DeleteFunc(c.all, func(x *contender) bool { return x == c.stPreadN || x == c.stMmapN || x == c.copyN })
		c.stPreadN, c.stMmapN, c.copyN = c.stPread1, c.stMmap1, c.copy1
	}
}

// ratios compares stload with the ceilings and nlpodyssey; the goals are
// issue 4's.
func (c *readContenders) ratios() []Ratio {
	T := c.threads
	bestPread := c.preads[0]
	for _, p := range c.preads {
		if p.fig.GBps > bestPread.fig.GBps {
			bestPread = p
		}
	}
	return []Ratio{
		ratio("read, 1 goroutine: stload pread / copy() 1 goroutine", c.stPread1.fig, c.copy1.fig, 0.9),
		ratio("read, 1 goroutine: stload mmap ReadAt / copy() 1 goroutine", c.stMmap1.fig, c.copy1.fig, 0.9),
		ratio("read, 1 goroutine: stload pread / pread ceiling 1 goroutine", c.stPread1.fig, c.preads[0].fig, 0),
		ratio("read, 1 goroutine: stload pread whole tensors / copy() 1 goroutine", c.stWhole1.fig, c.copy1.fig, 0),
		ratio(fmt.Sprintf("read, %d goroutines: stload pread / best pread ceiling (%d)", T, bestPread.fig.Threads), c.stPreadN.fig, bestPread.fig, 0.5),
		ratio(fmt.Sprintf("read, %d goroutines: stload mmap ReadAt / best pread ceiling (%d)", T, bestPread.fig.Threads), c.stMmapN.fig, bestPread.fig, 0.5),
		ratio(fmt.Sprintf("read, %d goroutines: stload pread / copy() %d goroutines", T, T), c.stPreadN.fig, c.copyN.fig, 0),
		ratio(fmt.Sprintf("read, %d goroutines: pread ceiling / copy() %d goroutines (the kernel's share)", T, T), c.preads[len(c.preads)-1].fig, c.copyN.fig, 0),
		ratio("read: pread at offsets ≡ 4088 (mod 4096) / aligned pread, 1 goroutine", c.shifted.fig, c.preads[0].fig, 0),
		ratio("read: stload pread 1 goroutine / nlpodyssey ReadFile+Deserialize", c.stPread1.fig, c.peer.fig, 0),
		ratio("read: stload mmap zero-copy touch / nlpodyssey ReadFile+Deserialize", c.stTouch.fig, c.peer.fig, 0),
		ratio("read: share of nlpodyssey's time that allocating its buffer accounts for (alloc time / its time)", c.peer.fig, c.alloc.fig, 0),
	}
}

// sizeTag names a size in file names: "1GiB", "256MiB".
func sizeTag(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%dGiB", n>>30)
	}
	return fmt.Sprintf("%dMiB", n>>20)
}
