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
		off, n := t.Offset(), t.Len()
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
	path := s.filePath(fmt.Sprintf("llama-%s.safetensors", sizeTag(s.o.ReadSize)))
	gf, err := s.generate(GenRequest{Kind: KindLlama, Size: s.o.ReadSize, Out: path})
	if err != nil {
		return err
	}
	w, err := Warm(path, s.o.Threads)
	if err != nil {
		return err
	}
	s.logf("warm: %s resident %.3f", fmtBytes(w.Bytes), w.Resident)
	s.rep.Notes = append(s.rep.Notes, fmt.Sprintf("read: %s file (%d tensors), %.1f%% of its pages in the page cache before timing (mincore)",
		fmtBytes(gf.Bytes), gf.Tensors, 100*w.Resident))

	probe, err := loader.Open(path, loader.WithPread())
	if err != nil {
		return err
	}
	var largest int64
	for _, t := range probe.Tensors() {
		largest = max(largest, t.Len())
	}
	payload := gf.Payload
	probe.Close()

	osf, err := os.Open(path)
	if err != nil {
		return err
	}
	defer osf.Close()
	T := s.o.Threads
	big := touchedBuffers(1, int(largest))[0]
	pieces := touchedBuffers(T, readPieceSize)
	mk := func(impl, name string, threads int, bytes int64) *Figure {
		return &Figure{Group: "read", Impl: impl, Threads: threads, Bytes: bytes, Tensors: gf.Tensors, Name: name}
	}

	// stload, one goroutine: every tensor whole, into one buffer sized to
	// the largest tensor and reused.
	serial := func(name string, opts ...loader.Option) *contender {
		return &contender{fig: mk("stload", name, 1, payload), run: func() error {
			f, err := loader.Open(path, opts...)
			if err != nil {
				return err
			}
			defer f.Close()
			for _, t := range f.Tensors() {
				if _, err := f.ReadAt(big[:t.Len()], t.Offset()); err != nil {
					return err
				}
			}
			return nil
		}}
	}
	// stload, t goroutines: tensors cut in 8 MiB pieces taken in order.
	par := func(t int, name string, opts ...loader.Option) *contender {
		return &contender{fig: mk("stload", name, t, payload), run: func() error {
			f, err := loader.Open(path, opts...)
			if err != nil {
				return err
			}
			defer f.Close()
			sp := tensorSpans(f, readPieceSize)
			return parallel(t, len(sp), func(w, i int) error {
				_, err := f.ReadAt(pieces[w][:sp[i].n], sp[i].off)
				return err
			})
		}}
	}
	// stload, one goroutine: every tensor through Tensor.Bytes (a view of
	// the mapping, or with WithPread a fresh copy), one byte read per page.
	touchAll := func(name string, opts ...loader.Option) *contender {
		return &contender{fig: mk("stload", name, 1, payload), run: func() error {
			f, err := loader.Open(path, opts...)
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
				s.sink += readTouch(b)
			}
			return nil
		}}
	}
	// Whole tensors land in a buffer as large as the largest tensor (the
	// embeddings), far beyond the caches, so every byte is written back to
	// DRAM; 8 MiB pieces reuse a buffer that stays in the last-level cache,
	// as the ceilings' do and as a staging loader's does. The goals are
	// judged on the pieces, the same access pattern as the ceilings.
	stWhole1 := serial("loader.Open(WithPread) + File.ReadAt each whole tensor → one reused buffer", loader.WithPread())
	stWhole1.fig.Note = "buffer of the largest tensor: writes go to DRAM"
	stMmapWhole1 := serial("loader.Open (mmap) + File.ReadAt each whole tensor → one reused buffer")
	stMmapWhole1.fig.Note = stWhole1.fig.Note
	stPread1 := par(1, "loader.Open(WithPread) + File.ReadAt 8 MiB pieces → reused buffer", loader.WithPread())
	stMmap1 := par(1, "loader.Open (mmap) + File.ReadAt 8 MiB pieces → reused buffer (copy from the mapping)")
	stPreadN := par(T, "loader.Open(WithPread) + File.ReadAt 8 MiB pieces → reused buffers", loader.WithPread())
	stMmapN := par(T, "loader.Open (mmap) + File.ReadAt 8 MiB pieces → reused buffers (copy from the mapping)")
	stTouch := touchAll("loader.Open (mmap) + Tensor.Bytes, zero-copy, read 1 byte per 4 KiB page")
	stTouch.fig.Note = "maps pages, copies nothing: page-fault cost of a fresh mapping"
	stBytes := touchAll("loader.Open(WithPread) + Tensor.Bytes (allocates each tensor)", loader.WithPread())
	stBytes.fig.Note = "includes the allocator: see the alloc line"
	peer := &contender{fig: mk("nlpodyssey", "os.ReadFile + Deserialize + Tensors()[i].Data(), 1 byte per page read", 1, payload),
		run: func() error {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			st, err := nlp.Deserialize(b)
			if err != nil {
				return err
			}
			for _, t := range st.Tensors() {
				s.sink += readTouch(t.TensorView.Data())
			}
			return nil
		}}
	peer.fig.Note = "its natural path; allocates the whole file: see the alloc line"
	alloc := &contender{fig: &Figure{Group: "read", Impl: "alloc", Threads: 1, Bytes: gf.Bytes,
		Name: fmt.Sprintf("make([]byte, %s) + first write to each page (fresh pages, no read)", fmtBytes(gf.Bytes)),
		Note: "what a reader that allocates its destination pays before reading a byte"},
		run: func() error {
			b := make([]byte, gf.Bytes)
			touch(b)
			s.sink += b[len(b)-1]
			return nil
		}}

	cs := []*contender{stPread1, stMmap1, stPreadN, stMmapN, stWhole1, stMmapWhole1, stTouch, stBytes, peer, alloc}
	var preads []*contender
	for _, t := range threadCounts(T) {
		c := preadCeiling("read", osf, gf.Bytes, t)
		c.fig.Bytes = gf.Bytes
		preads = append(preads, c)
	}
	shifted := preadShifted("read", osf, gf.Bytes, 4088)
	cs = append(cs, shifted)
	copy1 := memcpyCeiling("read", int(s.o.CopySize), 1)
	copyN := memcpyCeiling("read", int(s.o.CopySize), T)
	cs = append(cs, preads...)
	cs = append(cs, copy1, copyN)
	if T == 1 { // the N-goroutine contenders would repeat the 1-goroutine ones
		cs = slices.DeleteFunc(cs, func(c *contender) bool { return c == stPreadN || c == stMmapN || c == copyN })
		stPreadN, stMmapN, copyN = stPread1, stMmap1, copy1
	}
	s.logf("read: %d contenders × %d rounds", len(cs), s.o.Rounds)
	if err := interleave(s.o.Rounds, cs...); err != nil {
		return err
	}
	for _, c := range cs {
		s.add(c.fig)
	}
	bestPread := preads[0]
	for _, c := range preads {
		if c.fig.GBps > bestPread.fig.GBps {
			bestPread = c
		}
	}
	s.rep.Ratios = append(s.rep.Ratios,
		ratio("read, 1 goroutine: stload pread / copy() 1 goroutine", stPread1.fig, copy1.fig, 0.9),
		ratio("read, 1 goroutine: stload mmap ReadAt / copy() 1 goroutine", stMmap1.fig, copy1.fig, 0.9),
		ratio("read, 1 goroutine: stload pread / pread ceiling 1 goroutine", stPread1.fig, preads[0].fig, 0),
		ratio("read, 1 goroutine: stload pread whole tensors / copy() 1 goroutine", stWhole1.fig, copy1.fig, 0),
		ratio(fmt.Sprintf("read, %d goroutines: stload pread / best pread ceiling (%d)", T, bestPread.fig.Threads), stPreadN.fig, bestPread.fig, 0.5),
		ratio(fmt.Sprintf("read, %d goroutines: stload mmap ReadAt / best pread ceiling (%d)", T, bestPread.fig.Threads), stMmapN.fig, bestPread.fig, 0.5),
		ratio(fmt.Sprintf("read, %d goroutines: stload pread / copy() %d goroutines", T, T), stPreadN.fig, copyN.fig, 0),
		ratio(fmt.Sprintf("read, %d goroutines: pread ceiling / copy() %d goroutines (the kernel's share)", T, T), preads[len(preads)-1].fig, copyN.fig, 0),
		ratio("read: pread at offsets ≡ 4088 (mod 4096) / aligned pread, 1 goroutine", shifted.fig, preads[0].fig, 0),
		ratio("read: stload pread 1 goroutine / nlpodyssey ReadFile+Deserialize", stPread1.fig, peer.fig, 0),
		ratio("read: stload mmap zero-copy touch / nlpodyssey ReadFile+Deserialize", stTouch.fig, peer.fig, 0),
		ratio("read: share of nlpodyssey's time that allocating its buffer accounts for (alloc time / its time)", peer.fig, alloc.fig, 0),
	)
	return nil
}

// sizeTag names a size in file names: "1GiB", "256MiB".
func sizeTag(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%dGiB", n>>30)
	}
	return fmt.Sprintf("%dMiB", n>>20)
}
