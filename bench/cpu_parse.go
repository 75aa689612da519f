package bench

import (
	"bytes"
	"fmt"
	"os"

	nlp "github.com/nlpodyssey/safetensors"

	"github.com/stload/stload/loader"
)

// parse times opening a file of many small tensors: the header parse and
// validation alone, on bytes already in memory for both libraries, and
// each library's natural open of the file on disk.
func (s *cpuSuite) parse() error {
	n := s.o.HeaderTensors
	path := s.filePath(fmt.Sprintf("many-%d.safetensors", n))
	gf, err := s.generate(GenRequest{Kind: KindMany, Tensors: n, Out: path})
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	hdr, err := loader.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	hsize := hdr.HeaderSize()
	// Bytes is the header: GB/s of JSON parsed, and µs per tensor is shown
	// beside it in the table.
	mk := func(impl, name string) *Figure {
		return &Figure{Group: "parse", Impl: impl, Threads: 1, Bytes: hsize, Tensors: n, Name: name}
	}
	fresh := append(parseInMemory(data, n, mk), parseOpen(path, gf.Bytes, mk)...)
	warm := warmHeapTwins(fresh)
	all := append(fresh, warm...)
	if err := interleave(3*s.o.Rounds, all...); err != nil {
		return err
	}
	for _, c := range all {
		s.add(c.fig)
	}
	s.rep.Ratios = append(s.rep.Ratios,
		ratio("parse 10k-tensor header: stload / nlpodyssey (in memory, warm heap)", warm[0].fig, warm[1].fig, 6),
		ratio("parse 10k-tensor header: stload / nlpodyssey (in memory, fresh heap)", fresh[0].fig, fresh[1].fig, 0),
		ratio("open 10k-tensor file: stload Open / nlpodyssey ReadFile+Deserialize (warm heap)", warm[2].fig, warm[3].fig, 0),
		ratio("open 10k-tensor file: stload Open / nlpodyssey ReadFile+Deserialize (fresh heap)", fresh[2].fig, fresh[3].fig, 0),
	)
	return nil
}

// parseInMemory returns stload's and nlpodyssey's header parse and
// validation of data, a file of n tensors already in memory.
func parseInMemory(data []byte, n int, mk func(impl, name string) *Figure) []*contender {
	st := &contender{fig: mk("stload", "loader.NewReader(bytes.Reader) — header parse + validation, in memory"),
		run: func() error {
			f, err := loader.NewReader(bytes.NewReader(data), int64(len(data)))
			if err == nil {
				if got := countTensors(f); got != n {
					err = fmt.Errorf("got %d tensors", got)
				}
			}
			return err
		}}
	peer := &contender{fig: mk("nlpodyssey", "safetensors.Deserialize([]byte) — header parse + validation, in memory"),
		run: func() error {
			st, err := nlp.Deserialize(data)
			if err == nil && st.Len() != n {
				err = fmt.Errorf("got %d tensors", st.Len())
			}
			return err
		}}
	return []*contender{st, peer}
}

// parseOpen returns stload's and nlpodyssey's natural open of the file at
// path, of size bytes.
func parseOpen(path string, size int64, mk func(impl, name string) *Figure) []*contender {
	st := &contender{fig: mk("stload", "loader.Open(path) + Close — mmap, parse, munmap"),
		run: func() error {
			f, err := loader.Open(path)
			if err != nil {
				return err
			}
			return f.Close()
		}}
	peer := &contender{fig: mk("nlpodyssey", "os.ReadFile(path) + Deserialize — its natural open"),
		run: func() error {
			b, err := os.ReadFile(path)
			if err == nil {
				_, err = nlp.Deserialize(b)
			}
			return err
		}}
	peer.fig.Note = fmt.Sprintf("reads the whole %s file, data included", fmtBytes(size))
	return []*contender{st, peer}
}

// warmHeapTwins returns a copy of each contender that keeps the freed
// heap in the process, and marks the originals as fresh-heap runs. The
// twins measure the parsers' own speed, which the goal is stated for; the
// originals return the heap to the OS first, as a fresh process has it,
// so their allocations pay for fresh pages.
func warmHeapTwins(cs []*contender) []*contender {
	warm := make([]*contender, len(cs))
	for i, c := range cs {
		fig := *c.fig
		fig.Name += ", warm heap"
		c.fig.Name += ", fresh heap"
		warm[i] = &contender{fig: &fig, run: c.run, warmHeap: true}
	}
	return warm
}

// countTensors returns the number of tensors of f.
func countTensors(f *loader.File) int {
	n := 0
	for range f.Tensors() {
		n++
	}
	return n
}
